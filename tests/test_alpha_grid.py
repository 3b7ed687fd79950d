"""The 21-point alpha grid: each row equals a fresh interpolation at that alpha; lookups and mixing are exact."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from wiseft_core import testing
from wiseft_core.engine.interpolation import interpolate_state_dicts
from wiseft_core.engine.pair import load_pair
from wiseft_core.serve import alpha_grid
from wiseft_core.serve.interpolator_pool import InterpolatorPool


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


def test_grids_fill_ends_first_then_the_middle_then_quarters_and_cover_every_alpha_once():
    assert alpha_grid.FILL_ORDER[:5] == (0, 20, 10, 5, 15)
    assert sorted(alpha_grid.FILL_ORDER) == list(range(21))


class NoLiveModels:
    """A pool that must not be used: grid alphas are answered without any live model."""

    def lease(self):
        raise AssertionError("a live model was leased for a grid alpha")


@pytest.fixture(scope="module")
def grids(pair_and_batch) -> list[alpha_grid.PartialGrid]:
    """Every grid row of every image, filled once for this module (read-only for the tests)."""
    return filled_grids(*pair_and_batch)


def filled_grids(pair, batch) -> list[alpha_grid.PartialGrid]:
    pool = InterpolatorPool(pair.new_interpolator, size=1)
    grids = [alpha_grid.PartialGrid(len(pair.classnames)) for _ in range(batch.shape[0])]
    for i, grid in enumerate(grids):
        while alpha_grid.fill_step(pool, batch[i:i + 1], grid):
            pass
    return grids


def fresh_logits(pair, batch, alpha, block_alphas=()) -> torch.Tensor:
    return alpha_grid.live_weight_space_logits(pair.new_interpolator(), batch, alpha, block_alphas)


def test_a_grid_alpha_is_served_from_the_grid_and_equals_a_fresh_interpolation(pair_and_batch, grids):
    pair, batch = pair_and_batch
    ends = (pair.zeroshot.model, pair.finetuned.model)
    for alpha in (0.0, 0.35, 0.55, 1.0):
        got = alpha_grid.logits_at(NoLiveModels(), ends, batch, grids, alpha)
        assert not got.live
        torch.testing.assert_close(got.logits, fresh_logits(pair, batch, alpha), rtol=0, atol=1e-5)
        torch.testing.assert_close(got.logits.softmax(-1), fresh_logits(pair, batch, alpha).softmax(-1),
                                   rtol=0, atol=1e-6)


def test_off_grid_extrapolated_and_per_block_alphas_are_computed_live(pair_and_batch, grids):
    pair, batch = pair_and_batch
    pool = InterpolatorPool(pair.new_interpolator, size=1)
    ends = (pair.zeroshot.model, pair.finetuned.model)
    for alpha, blocks in ((0.37, ()), (1.3, ()), (-0.4, ()), (0.5, (("head", 1.0),))):
        got = alpha_grid.logits_at(pool, ends, batch, grids, alpha, block_alphas=blocks)
        assert got.live and got.finite
        torch.testing.assert_close(got.logits, fresh_logits(pair, batch, alpha, blocks), rtol=0, atol=1e-6)
    assert pool.created == 1


def test_output_space_mixes_the_endpoint_logits_with_or_without_a_grid(pair_and_batch, grids):
    pair, batch = pair_and_batch
    ends = (pair.zeroshot.model, pair.finetuned.model)
    expected = alpha_grid.output_space_logits(*ends, batch, 0.3)
    empty = [alpha_grid.PartialGrid(len(pair.classnames)) for _ in range(batch.shape[0])]
    for some in (empty, grids):
        got = alpha_grid.logits_at(NoLiveModels(), ends, batch, some, 0.3, mode="outputs")
        torch.testing.assert_close(got.logits, expected, rtol=0, atol=1e-5)


def test_a_grid_alpha_computed_live_fills_the_grid_for_every_later_viewer(pair_and_batch):
    pair, batch = pair_and_batch
    grids = [alpha_grid.PartialGrid(len(pair.classnames)) for _ in range(batch.shape[0])]
    pool = InterpolatorPool(pair.new_interpolator, size=1)
    ends = (pair.zeroshot.model, pair.finetuned.model)
    assert alpha_grid.logits_at(pool, ends, batch, grids, 0.45).live
    assert not alpha_grid.logits_at(NoLiveModels(), ends, batch, grids, 0.45).live
    assert grids[0].missing()[:2] == [0.0, 1.0] and 0.45 not in grids[0].missing()


def test_the_background_filler_completes_a_new_images_grid_newest_first(pair_and_batch):
    pair, batch = pair_and_batch
    pool = InterpolatorPool(pair.new_interpolator, size=1)
    store = alpha_grid.GridStore(max_images=2)
    grids = [store.get(("pair", i), len(pair.classnames)) for i in range(batch.shape[0])]
    assert store.get(("pair", 0), 0) is not grids[0]  # only two images kept: the first was dropped
    filler = alpha_grid.GridFiller()
    for i, grid in enumerate(grids):
        filler.request(pool, batch[i:i + 1], grid)
    deadline = time.time() + 60
    while not all(g.complete for g in grids) and time.time() < deadline:
        time.sleep(0.05)
    assert all(g.complete for g in grids) and filler.idle()
    reference = alpha_grid.compute_alpha_grid(pair.new_interpolator(), batch[2:3])
    torch.testing.assert_close(grids[2].snapshot()[0], reference.logits[:, 0], rtol=0, atol=1e-5)


def test_the_pool_never_makes_more_live_models_than_its_size_and_leases_are_exclusive():
    made, in_use, overlaps = [], set(), []
    lock = threading.Lock()

    def make():
        made.append(object())
        return made[-1]

    pool = InterpolatorPool(make, size=2)

    def viewer() -> None:
        for _ in range(20):
            with pool.lease() as model:
                with lock:
                    if id(model) in in_use:
                        overlaps.append(model)
                    in_use.add(id(model))
                time.sleep(0.001)
                with lock:
                    in_use.discard(id(model))

    threads = [threading.Thread(target=viewer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == 2 == pool.created and not overlaps


def test_warming_the_pool_builds_the_first_live_model_before_anyone_asks():
    made = []
    pool = InterpolatorPool(lambda: made.append(object()) or made[-1], size=3)
    pool.warm(1)
    assert len(made) == 1 == pool.created
    with pool.lease() as model:
        assert model is made[0] and len(made) == 1


def test_a_viewer_waits_for_the_model_being_built_instead_of_building_a_second_one():
    started, release, made = threading.Event(), threading.Event(), []

    def make():
        made.append(object())
        started.set()
        release.wait(10)
        return made[-1]

    pool = InterpolatorPool(make, size=2)
    warm = threading.Thread(target=pool.warm, args=(1,))
    warm.start()
    started.wait(10)
    got = []
    viewer = threading.Thread(target=lambda: got.append(pool.lease().__enter__()))
    viewer.start()
    time.sleep(0.2)
    assert not got  # waiting, not building
    release.set()
    warm.join(10)
    viewer.join(10)
    assert got == [made[0]] and len(made) == 1


def test_the_live_path_skips_set_alpha_when_the_leased_model_is_already_there_and_answers_the_same(pair_and_batch):
    pair, batch = pair_and_batch
    interpolator = pair.new_interpolator()
    first = alpha_grid.live_weight_space_logits(interpolator, batch, 0.3)
    calls = []
    interpolator.set_alpha = lambda *args: calls.append(args)  # would rewrite identical values
    again = alpha_grid.live_weight_space_logits(interpolator, batch, 0.3)
    assert calls == [] and torch.equal(first, again)
    alpha_grid.live_weight_space_logits(interpolator, batch, 0.3, [("head", 0.0)])
    assert calls == [(0.3, [("head", 0.0)])]  # other block alphas: the weights must change
