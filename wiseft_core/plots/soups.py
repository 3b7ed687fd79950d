"""Figures of model soups: the published cloud next to the demo's, and the plane through three models."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from wiseft_core.inspection.soup_plane import PlaneCell, plane_matrix
from wiseft_core.plots.curves import COLORS, MUTED
from wiseft_core.plots.labels import ENGLISH, PlotLabels, fill

SOUP_SYMBOLS = {"uniform soup": "diamond", "greedy soup": "star", "zero-shot": "square", "LP init": "square"}
SOUP_COLORS = {"uniform soup": COLORS[1], "greedy soup": COLORS[2], "zero-shot": COLORS[4], "LP init": COLORS[4]}


def _points(fig: go.Figure, points: Sequence[tuple[str, str, float, float]], col: int,
            labels: PlotLabels = ENGLISH) -> None:
    """``points``: (name, kind, reference accuracy, average shift accuracy); one trace per kind."""
    for kind in dict.fromkeys(p[1] for p in points):
        chosen = [p for p in points if p[1] == kind]
        soup = kind in SOUP_SYMBOLS
        fig.add_trace(go.Scatter(
            x=[p[2] for p in chosen], y=[p[3] for p in chosen], mode="markers", name=labels.name(kind),
            legendgroup=kind,
            showlegend=col == 1 or kind not in ("fine-tune", "uniform soup", "greedy soup"),
            marker={"size": 16 if soup else 8, "symbol": SOUP_SYMBOLS.get(kind, "circle"),
                    "color": SOUP_COLORS.get(kind, MUTED), "line": {"width": 1, "color": "white"}},
            text=[labels.name(p[0]) for p in chosen],
            hovertemplate="%{text}<br>" + fill(labels.soups_hover, x="%{x:.2f}", y="%{y:.2f}")
                          + "<extra>" + labels.name(kind) + "</extra>"), row=1, col=col)


def soup_cloud_figure(published: Sequence, demo_models: Sequence = (), demo_curves: Sequence[dict] = (),
                      labels: PlotLabels = ENGLISH) -> go.Figure:
    """Left: the published 72 fine-tunes and their soups (ImageNet vs the mean of five shifts). Right: the
    demo's fine-tunes and soups on its test draw, with WiSE-FT curves from its zero-shot model (summary rows)."""
    fig = make_subplots(rows=1, cols=2 if demo_models else 1, horizontal_spacing=0.08, subplot_titles=(
        labels.soups_paper_title, *([labels.soups_demo_title] if demo_models else [])))
    _points(fig, [(m.name, m.kind, m.reference, m.avg_shifts) for m in published], 1, labels)
    if demo_models:
        kinds = {m.name: m.name if not m.is_fine_tune else "fine-tune" for m in demo_models}
        _points(fig, [(m.name, kinds[m.name], m.test["photo"], m.avg_shifts("test")) for m in demo_models], 2,
                labels)
        for k, label in enumerate(dict.fromkeys(r["finetuning"] for r in demo_curves)):
            rows = sorted((r for r in demo_curves if r["finetuning"] == label), key=lambda r: r["alpha"])
            fig.add_trace(go.Scatter(
                x=[r["reference"] for r in rows], y=[r["avg_shifts"] for r in rows], mode="lines",
                name=fill(labels.wiseft_to, model=labels.name(label)),
                line={"color": COLORS[(k + 3) % len(COLORS)], "width": 2}, customdata=[r["alpha"] for r in rows],
                hovertemplate="α = %{customdata:.2f}<br>" + fill(labels.soups_hover, x="%{x:.2f}", y="%{y:.2f}")
                              + "<extra></extra>"),
                row=1, col=2)
    fig.update_xaxes(title_text=labels.reference_accuracy)
    fig.update_yaxes(title_text=labels.avg_shift_accuracy, col=1)
    fig.update_layout(height=460, margin={"t": 40, "l": 10, "r": 10, "b": 10}, legend={"orientation": "h"})
    return fig


PLANE_LABELS = {  # the words of the plane's figure; a page passes its viewer's language
    "top1": "top-1 (%)", "loss": "loss", "theta0": "zero-shot θ₀", "theta1": "fine-tune θ₁", "theta2": "fine-tune θ₂",
    "soup": "uniform soup of θ₁, θ₂", "to_theta1": "WiSE-FT to θ₁", "to_theta2": "WiSE-FT to θ₂",
    "to_soup": "WiSE-FT to the soup", "models": "models", "mix": "your mix", "u_axis": "u (towards fine-tune θ₁)",
    "v_axis": "v (towards fine-tune θ₂)",
}
PLANE_MARKS = {"theta0": (0.0, 0.0), "theta1": (1.0, 0.0), "theta2": (0.0, 1.0), "soup": (0.5, 0.5)}
WISE_FT_SEGMENTS = {"to_theta1": (1.0, 0.0), "to_theta2": (0.0, 1.0), "to_soup": (0.5, 0.5)}


def plane_figure(cells: Sequence[PlaneCell], dataset: str, metric: str, point: tuple[float, float] | None = None,
                 labels: Mapping[str, str] | None = None) -> go.Figure:
    """Heatmap of ``metric`` ("top1" or "loss") over (u, v), the three models, the soup and the WiSE-FT segments.

    ``labels`` replace any of ``PLANE_LABELS`` (the caller's language)."""
    words = {**PLANE_LABELS, **(labels or {})}
    us, vs, values = plane_matrix(cells, dataset, metric)
    label = words[metric]
    fig = go.Figure(go.Heatmap(
        x=us, y=vs, z=values, zsmooth="best", colorscale="Viridis" if metric == "top1" else "Viridis_r",
        colorbar={"title": {"text": label}}, hovertemplate="u = %{x:.3f}, v = %{y:.3f}<br>" + label
                                                           + " %{z:.3f}<extra></extra>", name=label))
    for key, (u, v) in WISE_FT_SEGMENTS.items():
        fig.add_trace(go.Scatter(x=[0.0, u], y=[0.0, v], mode="lines", name=words[key], legendgroup="wise-ft",
                                 line={"color": "white", "width": 2, "dash": "dot"}, hoverinfo="skip"))
    marks = list(PLANE_MARKS.items())
    fig.add_trace(go.Scatter(
        x=[m[1][0] for m in marks], y=[m[1][1] for m in marks], mode="markers+text", name=words["models"],
        text=[words[m[0]] for m in marks], textposition="top center", textfont={"color": "white"},
        marker={"size": 12, "color": ["#ff7f0e", "#d62728", "#d62728", "#2ca02c"], "symbol":
                ["square", "circle", "circle", "diamond"], "line": {"width": 1, "color": "white"}},
        hovertemplate="%{text}<extra></extra>"))
    if point is not None:
        fig.add_trace(go.Scatter(x=[point[0]], y=[point[1]], mode="markers", name=words["mix"],
                                 marker={"size": 18, "symbol": "star", "color": "white",
                                         "line": {"width": 2, "color": "black"}},
                                 hovertemplate=words["mix"] + ": u = %{x:.2f}, v = %{y:.2f}<extra></extra>"))
    fig.update_layout(height=560, margin={"t": 30, "l": 10, "r": 10, "b": 10},
                      legend={"orientation": "h", "y": -0.18, "yanchor": "top"},
                      xaxis={"title": words["u_axis"], "range": [us[0], us[-1]]},
                      yaxis={"title": words["v_axis"], "range": [vs[0], vs[-1]], "scaleanchor": "x"})
    return fig


TRIANGLE_CORNERS = ((0.0, 0.0), (1.0, 0.0), (0.5, 3 ** 0.5 / 2))  # equilateral: equal weights look equal


def triangle_xy(weights: Sequence[float]) -> tuple[float, float]:
    """Where barycentric ``weights`` (three, summing to 1) sit in the drawn triangle."""
    return (sum(w * c[0] for w, c in zip(weights, TRIANGLE_CORNERS)),
            sum(w * c[1] for w, c in zip(weights, TRIANGLE_CORNERS)))


def triangle_grid(step: float = 0.05) -> list[tuple[float, float, float]]:
    """Every point of the simplex on a ``step`` lattice (the points a click can pick), weights rounded to 6 places."""
    count = int(round(1 / step))
    return [(round(1 - (i + j) / count, 6) + 0.0, round(i / count, 6), round(j / count, 6))
            for j in range(count + 1) for i in range(count + 1 - j)]


def triangle_figure(names: Sequence[str], weights: Sequence[float] | None, hover: str = "weights",
                    mix_label: str = "your mix", step: float = 0.05) -> go.Figure:
    """A triangle with a model at each corner: a click on it picks the barycentric weights of the nearest lattice
    point (its ``customdata``); ``weights`` (inside the triangle) is drawn as a star. Labels come from the caller."""
    grid = triangle_grid(step)
    xy = [triangle_xy(w) for w in grid]
    corners = [*TRIANGLE_CORNERS, TRIANGLE_CORNERS[0]]
    fig = go.Figure(go.Scatter(x=[c[0] for c in corners], y=[c[1] for c in corners], mode="lines",
                               line={"color": MUTED, "width": 2}, hoverinfo="skip", showlegend=False))
    fig.add_trace(go.Scatter(
        x=[p[0] for p in xy], y=[p[1] for p in xy], mode="markers", customdata=[list(w) for w in grid],
        marker={"size": 13, "color": "rgba(120,120,120,0.07)"}, showlegend=False, meta="grid",
        selected={"marker": {"color": "rgba(120,120,120,0.07)"}}, unselected={"marker": {"opacity": 1}},
        hovertemplate=hover + " (%{customdata[0]:.2f}, %{customdata[1]:.2f}, %{customdata[2]:.2f})<extra></extra>"))
    fig.add_trace(go.Scatter(
        x=[c[0] for c in TRIANGLE_CORNERS], y=[c[1] for c in TRIANGLE_CORNERS], mode="markers+text",
        text=list(names), textposition=["bottom right", "bottom left", "top center"], showlegend=False,
        marker={"size": 12, "color": ["#ff7f0e", "#d62728", "#9467bd"]}, hoverinfo="skip", cliponaxis=False))
    if weights is not None and min(weights) >= -1e-9:
        x, y = triangle_xy(weights)
        fig.add_trace(go.Scatter(x=[x], y=[y], mode="markers", name=mix_label, showlegend=False, hoverinfo="skip",
                                 marker={"size": 20, "symbol": "star", "color": "#2ca02c",
                                         "line": {"width": 1, "color": "black"}}))
    fig.update_layout(height=320, margin={"t": 10, "l": 10, "r": 10, "b": 10}, clickmode="event+select",
                      dragmode=False, xaxis={"visible": False, "range": [-0.15, 1.15], "fixedrange": True},
                      yaxis={"visible": False, "range": [-0.12, 1.0], "scaleanchor": "x", "fixedrange": True})
    return fig
