"""The 21-point alpha grid: each row equals a fresh interpolation at that alpha; lookups and mixing are exact."""

from __future__ import annotations

import pytest
import torch

from wiseft_core import alpha_grid, testing
from wiseft_core.interpolation import interpolate_state_dicts
from wiseft_core.pair import load_pair


@pytest.fixture(scope="module")
def pair_and_batch(tmp_path_factory):
    pair = load_pair(*testing.write_random_pair(tmp_path_factory.mktemp("grid_pair")))
    batch = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    return pair, batch


def test_grid_is_twenty_one_alphas_from_zero_to_one():
    assert len(alpha_grid.ALPHA_GRID) == 21 and alpha_grid.ALPHA_GRID[0] == 0.0 and alpha_grid.ALPHA_GRID[-1] == 1.0
    assert alpha_grid.grid_index(0.35) == 7 and alpha_grid.grid_index(0.37) is None
    assert alpha_grid.grid_index(1.25) is None


def test_grid_rows_equal_the_model_with_plainly_interpolated_weights(pair_and_batch):
    pair, batch = pair_and_batch
    grid = alpha_grid.compute_alpha_grid(pair.new_interpolator(), batch)
    assert grid.logits.shape == (21, 3, len(pair.classnames))
    theta0, theta1 = pair.zeroshot.model.state_dict(), pair.finetuned.model.state_dict()
    for alpha in (0.0, 0.35, 1.0):
        model = pair.new_interpolator().model
        model.load_state_dict(interpolate_state_dicts(theta0, theta1, alpha))
        expected = alpha_grid.forward_logits(model, batch)
        torch.testing.assert_close(grid.weight_space_logits(alpha), expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grid.probs().sum(-1), torch.ones(21, 3))


def test_off_grid_alpha_takes_the_live_path_and_output_space_mixes_endpoint_logits(pair_and_batch):
    pair, batch = pair_and_batch
    grid = alpha_grid.compute_alpha_grid(pair.new_interpolator(), batch)
    assert grid.weight_space_logits(1.3) is None
    live = alpha_grid.live_weight_space_logits(pair.new_interpolator(), batch, 0.5)
    torch.testing.assert_close(live, grid.weight_space_logits(0.5), rtol=1e-5, atol=1e-5)
    mixed = grid.output_space_logits(0.25)
    torch.testing.assert_close(mixed, 0.75 * grid.logits[0] + 0.25 * grid.logits[-1], rtol=1e-6, atol=1e-6)
    from_scratch = alpha_grid.output_space_logits(pair.zeroshot.model, pair.finetuned.model, batch, 0.25)
    torch.testing.assert_close(from_scratch, mixed, rtol=1e-5, atol=1e-5)
    assert grid.output_space_probs_over_grid().shape == grid.logits.shape
