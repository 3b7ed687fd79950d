"""Plotly figure builders for the app: plain functions from numbers to ``go.Figure``.

Kept free of Streamlit so the same figures can be exported for slides or tested on their own; the
pages only choose what to plot. Accuracies are in percent and probabilities in [0, 1] throughout.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from wiseft_core.plots.labels import ENGLISH, PlotLabels, fill
from wiseft_core.serve.markup import plot_text

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
          "#7f7f7f", "#bcbd22"]
HIGHLIGHT = "#2ca02c"
MUTED = "#8fa8c8"
CURRENT_ALPHA_NAME = ENGLISH.current_alpha  # the star's legend entry in English (the talk renames it)
# Export settings for the modebar's camera button: a slide-sized PNG that needs no server-side browser.
PNG_EXPORT_CONFIG = {
    "toImageButtonOptions": {"format": "png", "filename": "wiseft_curves", "height": 720, "width": 1280,
                             "scale": 2},
    "displaylogo": False,
}
LOGIT_TICKS = [1, 2, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 98, 99]


def _logit(percent: float) -> float:
    """Logit of an accuracy in percent, the axis scaling the paper uses for its robustness plots."""
    p = min(max(percent / 100.0, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def _interp_at(alphas: Sequence[float], values: Sequence[float], alpha: float) -> float | None:
    """Linear interpolation of a curve at ``alpha``; None outside the measured alpha range."""
    if not alphas or alpha < alphas[0] - 1e-9 or alpha > alphas[-1] + 1e-9:
        return None
    return float(np.interp(alpha, alphas, values))


def seed_spread(members: Sequence[dict], x: str, y: str) -> list[dict]:
    """Per alpha (ascending): mean, min and max of ``x`` and ``y`` over the rows at that alpha, and their count.

    Rows of one curve that share an alpha come from different runs (fine-tuning seeds of a merged
    sweep); the curve follows their mean and the whiskers span their range.
    """
    by_alpha: dict[float, list[dict]] = {}
    for row in members:
        by_alpha.setdefault(round(float(row["alpha"]), 9), []).append(row)
    points = []
    for alpha in sorted(by_alpha):
        xs = [float(r[x]) for r in by_alpha[alpha]]
        ys = [float(r[y]) for r in by_alpha[alpha]]
        points.append({"alpha": alpha, "x": float(np.mean(xs)), "y": float(np.mean(ys)), "x_min": min(xs),
                       "x_max": max(xs), "y_min": min(ys), "y_max": max(ys), "runs": len(xs)})
    return points


def _whiskers(points: list[dict], axis: str, scale) -> dict:
    """Asymmetric error bars from the mean to the min and max of an axis, in the plotted (maybe logit) scale."""
    return {"type": "data", "symmetric": False, "thickness": 1.2, "width": 3,
            "array": [scale(p[f"{axis}_max"]) - scale(p[axis]) for p in points],
            "arrayminus": [scale(p[axis]) - scale(p[f"{axis}_min"]) for p in points]}


def _add_curve(fig: go.Figure, name: str, points: list[dict], scale, color: str, hover_labels: tuple[str, str],
               labels: PlotLabels) -> tuple[str, str]:
    """One group's curve (seeds' mean with min-max whiskers when there are several); its legend and hover names.

    ``name`` comes from files (shown literally); the words around it are ``labels``'.
    """
    x_hover, y_hover = hover_labels
    runs = max(p["runs"] for p in points)
    spread, seeds = {}, ""
    hover = "α = %{customdata[0]:.2f}<br>" + x_hover + ": %{customdata[1]:.1f}<br>" + y_hover + ": %{customdata[2]:.1f}"
    if runs > 1:
        seeds = " (" + fill(labels.seeds_mean, runs=runs) + ")"
        spread = {"error_x": _whiskers(points, "x", scale), "error_y": _whiskers(points, "y", scale)}
        hover += " (" + fill(labels.seeds_hover, runs="%{customdata[3]:.0f}", low="%{customdata[4]:.1f}",
                             high="%{customdata[5]:.1f}") + ")"
    name, extra = plot_text(name) + seeds, plot_text(name, template=True) + seeds.replace("%", "&#37;")
    fig.add_trace(go.Scatter(
        x=[scale(p["x"]) for p in points], y=[scale(p["y"]) for p in points], mode="lines+markers", name=name,
        line={"color": color}, marker={"size": 6}, **spread,
        customdata=np.column_stack([[p[k] for p in points] for k in ("alpha", "x", "y", "runs", "y_min", "y_max")]),
        hovertemplate=hover + "<extra>" + extra + "</extra>",
    ))
    return name, extra


def _add_chord(fig: go.Figure, alphas, xs, ys, scale, color: str, names: tuple[str, str], labels: PlotLabels) -> None:
    """The dashed zero-shot -> fine-tuned line and its two end markers (square: zero-shot, triangle: fine-tuned)."""
    name, extra = names
    fig.add_trace(go.Scatter(
        x=[scale(xs[0]), scale(xs[-1])], y=[scale(ys[0]), scale(ys[-1])], mode="lines",
        line={"color": color, "dash": "dash", "width": 1}, showlegend=False, hoverinfo="skip",
        name=f"{name} {labels.chord}",
    ))
    for idx, label in ((0, labels.zero_shot), (-1, labels.fine_tuned)):
        fig.add_trace(go.Scatter(
            x=[scale(xs[idx])], y=[scale(ys[idx])], mode="markers", showlegend=False,
            marker={"color": color, "size": 11, "symbol": "square" if idx == 0 else "triangle-up"},
            hovertemplate=f"{label} (α = {alphas[idx]:.2f})<extra>{extra}</extra>",
        ))


def _add_current_alpha(fig: go.Figure, alpha: float, curve: tuple, scale, color: str, hover: tuple[str, str, str],
                       first: bool, current: str) -> None:
    """A star at ``alpha`` on the curve, interpolated linearly between the measured alphas."""
    alphas, xs, ys = curve
    x_hover, y_hover, extra = hover
    cx, cy = _interp_at(alphas, xs, alpha), _interp_at(alphas, ys, alpha)
    if cx is None or cy is None:
        return
    fig.add_trace(go.Scatter(
        x=[scale(cx)], y=[scale(cy)], mode="markers", name=current, legendgroup=current, showlegend=first,
        marker={"symbol": "star", "size": 18, "color": color, "line": {"color": "black", "width": 1}},
        hovertemplate=f"{current} = {alpha:.2f}<br>{x_hover}: {cx:.1f}<br>{y_hover}: {cy:.1f}<extra>{extra}</extra>",
    ))


def accuracy_curves_figure(
    rows: Sequence[dict],
    y: str,
    *,
    x: str = "reference",
    x_label: str | None = None,
    y_label: str | None = None,
    group_keys: Sequence[str] = ("source", "model", "finetuning", "ensemble"),
    current_alpha: float | None = None,
    logit_axes: bool = False,
    endpoint_line: bool = True,
    title: str | None = None,
    labels: PlotLabels = ENGLISH,
) -> go.Figure:
    """Reference accuracy (x) against a shift (y), one marker per alpha, one curve per group.

    ``rows`` are summary rows (``results.summary_table`` shape) with an ``alpha`` and the x/y
    columns; every text (names from files, labels, title) is shown literally (``markup.plot_text``);
    the axis titles default to ``labels``' reference and shift accuracy.
    The dashed zero-shot→fine-tuned chord is what a plain interpolation of the two
    endpoints' *accuracies* would give: WiSE-FT points above it are the paper's effect. The current
    alpha is marked on every curve by linear interpolation between the measured alphas. A curve
    measured for several fine-tuning seeds (rows sharing an alpha, e.g. a merged sweep with a ``seed``
    column) follows the seeds' mean, with whiskers from their minimum to their maximum. A group's legend
    entry joins its values' ``labels.name`` (a source, a fine-tuning, an ensemble in the viewer's words).
    """
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        if row.get(x) is None or row.get(y) is None:
            continue
        groups.setdefault(tuple(row.get(k, "") for k in group_keys), []).append(row)
    scale = _logit if logit_axes else float
    x_label = labels.reference_accuracy if x_label is None else x_label
    y_label = labels.shift_accuracy if y_label is None else y_label
    x_hover, y_hover = plot_text(x_label, template=True), plot_text(y_label, template=True)
    x_label, y_label, title = plot_text(x_label), plot_text(y_label), None if title is None else plot_text(title)
    fig = go.Figure()
    for i, (key, members) in enumerate(groups.items()):
        points = seed_spread(members, x, y)
        color = COLORS[i % len(COLORS)]
        alphas, xs, ys = ([p[k] for p in points] for k in ("alpha", "x", "y"))
        group = " · ".join(labels.name(k) for k in key if k)
        name, extra = _add_curve(fig, group, points, scale, color, (x_hover, y_hover), labels)
        if endpoint_line and alphas[0] == 0.0 and alphas[-1] == 1.0:
            _add_chord(fig, alphas, xs, ys, scale, color, (name, extra), labels)
        if current_alpha is not None:
            _add_current_alpha(fig, current_alpha, (alphas, xs, ys), scale, color, (x_hover, y_hover, extra),
                               i == 0, labels.current_alpha)
    fig.update_layout(
        title=title, xaxis_title=x_label, yaxis_title=y_label, height=520, hovermode="closest",
        legend={"orientation": "h", "yanchor": "top", "y": -0.15}, margin={"t": 50 if title else 20},
    )
    if logit_axes:
        ticks = {"tickvals": [_logit(t) for t in LOGIT_TICKS], "ticktext": [str(t) for t in LOGIT_TICKS]}
        fig.update_xaxes(**ticks, title=f"{x_label} ({labels.logit_scale})")
        fig.update_yaxes(**ticks, title=f"{y_label} ({labels.logit_scale})")
    return fig


def top_k_figure(entries: Sequence[tuple[str, float]], title: str, true_label: str | None = None) -> go.Figure:
    """Horizontal bars of the top-k probabilities, best on top; the true label in green.

    Built from one dict (validated once) rather than trace objects: the Playground redraws these
    on every slider move, and plotly's per-object validation would dominate that time.
    """
    labels = [label for label, _ in entries][::-1]
    probs = [float(p) for _, p in entries][::-1]
    return go.Figure({
        "data": [{
            "type": "bar", "x": probs, "y": [plot_text(label) for label in labels], "orientation": "h",
            "marker": {"color": [HIGHLIGHT if label == true_label else MUTED for label in labels]},
            "text": [f"{p:.0%}" for p in probs], "textposition": "auto",
            "hovertemplate": "%{y}: %{x:.3f}<extra></extra>",
        }],
        "layout": {
            "title": {"text": plot_text(title)}, "height": 60 + 28 * max(len(entries), 1), "showlegend": False,
            "margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "xaxis": {"range": [0, 1], "tickformat": ".0%"},
        },
    })


def weight_diff_figure(diffs: Sequence, labels: PlotLabels = ENGLISH) -> go.Figure:
    """Per block: relative change ‖θ_ft−θ_zs‖/‖θ_zs‖ (bars) and cosine similarity (line), block order kept."""
    blocks = [plot_text(d.block) for d in diffs]  # parameter names come from the file
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=(labels.relative_change_title, labels.cosine_title))
    fig.add_trace(go.Bar(x=blocks, y=[d.rel_change for d in diffs], marker_color=COLORS[0], name=labels.relative_change,
                         hovertemplate="%{x}: %{y:.4f}<extra></extra>"), row=1, col=1)
    fig.add_trace(go.Scatter(x=blocks, y=[d.cosine for d in diffs], mode="lines+markers", marker_color=COLORS[1],
                             name=labels.cosine, hovertemplate="%{x}: %{y:.5f}<extra></extra>"), row=2, col=1)
    fig.update_layout(height=560, showlegend=False, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig
