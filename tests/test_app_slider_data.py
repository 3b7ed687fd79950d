"""What the live slider is sent: the classes that can show up, real probabilities, nothing computed in the browser."""

from __future__ import annotations

import json

import torch

from wiseft_core.serve.alpha_grid import ALPHA_GRID, PartialGrid
from wiseft_core.serve.slider_data import grid_probs, image_entry, slider_data


def grid_with(rows: dict[float, torch.Tensor], classes: int = 50) -> PartialGrid:
    grid = PartialGrid(classes)
    for alpha, logits in rows.items():
        grid.put(alpha, logits)
    return grid


def test_only_classes_that_can_be_in_a_top_k_or_are_the_true_label_are_sent_with_exact_probabilities():
    generator = torch.Generator().manual_seed(0)
    logits = {a: torch.randn(50, generator=generator) * 3 for a in ALPHA_GRID}
    grid = grid_with(logits)
    server = torch.randn(50, generator=generator).softmax(-1)
    entry = image_entry("cat.png", 49, "class 49", "", grid_probs(grid, "weights"), server, top_k=5)
    for alpha, row in zip(ALPHA_GRID, entry["rows"]):
        probs = logits[alpha].softmax(-1)
        top = set(probs.topk(5).indices.tolist())
        assert top <= set(entry["classes"])
        sent = dict(zip(entry["classes"], row))
        assert all(abs(sent[c] - float(probs[c])) <= 5e-8 for c in entry["classes"])
    assert 49 in entry["classes"] and 49 in entry["chart_classes"]
    assert set(server.topk(5).indices.tolist()) <= set(entry["classes"])
    assert len(entry["classes"]) < 50


def test_rows_not_computed_yet_travel_as_null_and_output_space_waits_for_both_endpoints():
    grid = grid_with({0.0: torch.zeros(10), 0.5: torch.arange(10.0)}, classes=10)
    weights = grid_probs(grid, "weights")
    assert weights[0] is not None and weights[10] is not None and weights[20] is None
    assert all(r is None for r in grid_probs(grid, "outputs"))
    grid.put(1.0, torch.arange(10.0).flip(0))
    mixed = grid_probs(grid, "outputs")
    torch.testing.assert_close(mixed[4], (0.8 * torch.zeros(10) + 0.2 * torch.arange(10.0).flip(0)).softmax(-1))
    entry = image_entry("x", None, None, "", weights, None, top_k=3)
    data = slider_data([entry], [f"c{i}" for i in range(10)], 0.35, 0.0, 1.0, "weights", True, True)
    assert json.loads(json.dumps(data))["images"][0]["rows"][20] is None
    assert data["pending"] and data["grid"] == list(ALPHA_GRID)


def test_a_forged_slider_message_is_refused_and_a_real_release_is_rounded_to_the_slider_step():
    from wiseft_core.serve.slider_data import released_alpha

    assert released_alpha({"alpha": 0.4300000001}, 0.0, 1.0) == 0.43
    assert released_alpha({"alpha": 1}, 0.0, 1.0) == 1.0
    assert released_alpha({"alpha": 1.5}, -0.5, 1.5) == 1.5
    for forged in (float("nan"), float("inf"), "nan", "0.5", None, True, [0.5], {"x": 1}, 1.2, -0.01):
        assert released_alpha({"alpha": forged}, 0.0, 1.0) is None, forged
    assert released_alpha({}, 0.0, 1.0) is None and released_alpha(None, 0.0, 1.0) is None
