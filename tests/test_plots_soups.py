"""The Soups page's figures: the triangle a click picks three weights on."""

from __future__ import annotations

import math

import pytest

from wiseft_core.plots.soups import TRIANGLE_CORNERS, triangle_figure, triangle_grid, triangle_xy


def test_the_triangle_lattice_covers_the_simplex_with_weights_summing_to_one():
    grid = triangle_grid(0.05)
    assert len(grid) == 21 * 22 // 2
    assert {(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (0.2, 0.3, 0.5)} <= set(grid)
    assert all(math.isclose(sum(w), 1.0, abs_tol=1e-9) and min(w) >= 0 for w in grid)


def test_barycentric_weights_land_at_the_corners_and_the_centre():
    for k, corner in enumerate(TRIANGLE_CORNERS):
        assert triangle_xy([1.0 if i == k else 0.0 for i in range(3)]) == pytest.approx(corner)
    assert triangle_xy([1 / 3] * 3) == pytest.approx((0.5, math.sqrt(3) / 6))


def test_the_triangle_figure_carries_each_points_weights_and_marks_the_mix_inside_only():
    fig = triangle_figure(["A", "B", "C"], (0.2, 0.3, 0.5), mix_label="mix")
    grid = next(t for t in fig.data if t.meta == "grid")
    k = [tuple(c) for c in grid.customdata].index((0.2, 0.3, 0.5))
    assert (grid.x[k], grid.y[k]) == pytest.approx(triangle_xy((0.2, 0.3, 0.5)))
    star = next(t for t in fig.data if t.name == "mix")
    assert (star.x[0], star.y[0]) == pytest.approx(triangle_xy((0.2, 0.3, 0.5)))
    assert list(next(t for t in fig.data if t.text is not None).text) == ["A", "B", "C"]
    outside = triangle_figure(["A", "B", "C"], (-0.5, 0.75, 0.75), mix_label="mix")
    assert not [t for t in outside.data if t.name == "mix"]  # extrapolation is off the triangle
