"""Figure builders: the numbers that go into each trace are the numbers given, and the current alpha is marked."""

from __future__ import annotations

import math

import pytest

from wiseft_core.inspection.weight_diff import BlockDiff
from wiseft_core.plots.curves import (
    CURRENT_ALPHA_NAME,
    accuracy_curves_figure,
    top_k_figure,
    weight_diff_figure,
)

ROWS = [
    {"source": "s", "model": "m", "finetuning": "end-to-end", "ensemble": "weights", "alpha": a,
     "reference": 60 + 20 * a, "shiftA": 50 + 10 * a * (1 - a) * 4 - 5 * a, "avg_shifts": 40 + a}
    for a in (0.0, 0.5, 1.0)
]


def test_curve_has_one_marker_per_alpha_in_alpha_order_and_hover_shows_alpha():
    fig = accuracy_curves_figure(list(reversed(ROWS)), "shiftA", endpoint_line=False)
    curve = fig.data[0]
    assert list(curve.x) == [60.0, 70.0, 80.0]
    assert list(curve.y) == [50.0, 57.5, 45.0]
    assert [row[0] for row in curve.customdata] == [0.0, 0.5, 1.0]
    assert "α = %{customdata[0]:.2f}" in curve.hovertemplate


def test_zero_shot_to_fine_tuned_line_joins_the_alpha_zero_and_alpha_one_points():
    fig = accuracy_curves_figure(ROWS, "shiftA")
    line = next(t for t in fig.data if t.name.endswith("zero-shot→fine-tuned"))
    assert list(line.x) == [60.0, 80.0] and list(line.y) == [50.0, 45.0]
    assert line.line.dash == "dash"


def test_current_alpha_is_marked_on_every_curve_by_linear_interpolation():
    rows = ROWS + [{**r, "ensemble": "outputs", "shiftA": r["shiftA"] + 1} for r in ROWS]
    fig = accuracy_curves_figure(rows, "shiftA", current_alpha=0.25)
    stars = [t for t in fig.data if t.name == CURRENT_ALPHA_NAME]
    assert len(stars) == 2
    assert stars[0].x[0] == pytest.approx(65.0) and stars[0].y[0] == pytest.approx(53.75)
    assert stars[1].y[0] == pytest.approx(54.75)


def test_current_alpha_outside_the_measured_range_is_not_marked():
    fig = accuracy_curves_figure(ROWS, "shiftA", current_alpha=1.4)
    assert not [t for t in fig.data if t.name == CURRENT_ALPHA_NAME]


def test_logit_axes_transform_accuracies_and_label_ticks_in_percent():
    fig = accuracy_curves_figure(ROWS, "shiftA", logit_axes=True, endpoint_line=False)
    assert fig.data[0].x[0] == pytest.approx(math.log(0.6 / 0.4))
    assert "50" in fig.layout.xaxis.ticktext and fig.layout.xaxis.tickvals[fig.layout.xaxis.ticktext.index("50")] == 0


def test_top_k_bars_put_the_best_class_on_top_and_highlight_the_true_label():
    fig = top_k_figure([("cat", 0.7), ("dog", 0.2), ("fox", 0.1)], "α = 0", true_label="dog")
    bars = fig.data[0]
    assert list(bars.y) == ["fox", "dog", "cat"]  # plotly draws bottom-up
    assert list(bars.x) == [0.1, 0.2, 0.7]
    assert bars.marker.color[1] != bars.marker.color[0]


def test_weight_diff_figure_keeps_block_order():
    diffs = [BlockDiff("embeddings", 0.1, 0.99, 10), BlockDiff("block0", 0.3, 0.95, 20), BlockDiff("head", 0.5, 0.9, 5)]
    fig = weight_diff_figure(diffs)
    assert list(fig.data[0].x) == ["embeddings", "block0", "head"]
    assert list(fig.data[0].y) == [0.1, 0.3, 0.5] and list(fig.data[1].y) == [0.99, 0.95, 0.9]


def test_a_curve_measured_for_several_seeds_follows_their_mean_with_min_to_max_whiskers():
    seeds = [{**r, "seed": str(s), "reference": r["reference"] + s, "shiftA": r["shiftA"] + 2 * s}
             for s in (0, 1, 2) for r in ROWS]
    fig = accuracy_curves_figure(seeds, "shiftA", endpoint_line=False)
    curve = fig.data[0]
    assert len(fig.data) == 1 and "mean of 3 seeds" in curve.name
    assert list(curve.x) == [61.0, 71.0, 81.0] and list(curve.y) == [52.0, 59.5, 47.0]
    assert list(curve.error_y.array) == [2.0, 2.0, 2.0] and list(curve.error_y.arrayminus) == [2.0, 2.0, 2.0]
    assert list(curve.error_x.array) == [1.0, 1.0, 1.0]


def test_a_single_run_curve_has_no_whiskers():
    curve = accuracy_curves_figure(ROWS, "shiftA", endpoint_line=False).data[0]
    assert curve.error_y.array is None and "seeds" not in curve.name
