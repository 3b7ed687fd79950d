"""Plotly figures of the inspection views: pointing game, flip groups along alpha, loss landscape.

Plain functions from numbers to ``go.Figure`` (no Streamlit), in the style of :mod:`wiseft_core.plots.curves`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from wiseft_core.plots.curves import COLORS
from wiseft_core.plots.labels import ENGLISH, PlotLabels, fill
from wiseft_core.serve.markup import plot_text

GROUP_COLORS = {"both right": "#2ca02c", "only zero-shot right": "#1f77b4", "only fine-tuned right": "#d62728",
                "both wrong": "#7f7f7f", "rescued": "#17becf", "lost": "#ff7f0e"}
ALPHA_AXIS = ENGLISH.alpha_axis


def _alpha_marker(fig: go.Figure, alpha: float | None, above: bool = False) -> None:
    """A dotted line at ``alpha``, labelled at its foot, or once at the figure's top right (``above``: stacked
    panels, whose lines the foot label would cover; their titles sit at the left)."""
    if alpha is None:
        return
    if not above:
        fig.add_vline(x=alpha, line_dash="dot", line_color="black", annotation_text=f"α = {alpha:.2f}",
                      annotation_position="bottom right")  # at the top it ran into the panels' titles
        return
    fig.add_vline(x=alpha, line_dash="dot", line_color="black")
    fig.add_annotation(x=1, xref="paper", y=1, yref="paper", yanchor="bottom", xanchor="right",  # titles: left
                       text=f"┆ α = {alpha:.2f}", showarrow=False)


def pointing_game_figure(rows: Sequence[dict], current_alpha: float | None = None,
                         labels: PlotLabels = ENGLISH) -> go.Figure:
    """Pointing-game share (%) along alpha, one line per distribution; dotted: chance (the object's area)."""
    fig = go.Figure()
    names = list(dict.fromkeys(r["distribution"] for r in rows))
    for i, name in enumerate(names):
        mine = sorted((r for r in rows if r["distribution"] == name), key=lambda r: r["alpha"])
        color, shown = COLORS[i % len(COLORS)], labels.name(name)
        fig.add_scatter(x=[r["alpha"] for r in mine], y=[r["pointing"] for r in mine], mode="lines+markers",
                        name=plot_text(shown), line={"color": color, "width": 3 if i == 0 else 2},
                        hovertemplate="α = %{x:.2f}: " + fill(labels.pointing_hover, share="%{y:.1f}") + "<extra>"
                        + plot_text(shown, template=True) + "</extra>")
        fig.add_scatter(x=[mine[0]["alpha"], mine[-1]["alpha"]], y=[mine[0]["object_area"]] * 2, mode="lines",
                        line={"color": color, "dash": "dot", "width": 1}, showlegend=False, hoverinfo="skip")
    _alpha_marker(fig, current_alpha)
    fig.update_layout(height=380, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      xaxis_title=labels.alpha_axis, yaxis_title=labels.pointing_axis,
                      yaxis_range=[0, 100], legend={"font": {"size": 11}})
    return fig


def flip_counts_figure(alphas: Sequence[float], counts: dict[str, Sequence[int]], n: int,
                       current_alpha: float | None = None, labels: PlotLabels = ENGLISH) -> go.Figure:
    """Rescued and lost images along alpha, and the accuracy they add up to (right axis)."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    for name in ("rescued", "lost"):
        shown = labels.name(name)
        fig.add_scatter(x=list(alphas), y=list(counts[name]), mode="lines+markers", name=shown,
                        line={"color": GROUP_COLORS[name]}, secondary_y=False,
                        hovertemplate="α = %{x:.2f}: " + fill(labels.images_hover, n="%{y}") + "<extra>" + shown
                        + "</extra>")
    if "right" in counts and n:
        fig.add_scatter(x=list(alphas), y=[100 * c / n for c in counts["right"]], mode="lines", name=labels.top1,
                        line={"color": "black", "dash": "dash"}, secondary_y=True,
                        hovertemplate="α = %{x:.2f}: %{y:.1f}%<extra>top-1</extra>")
    _alpha_marker(fig, current_alpha)
    fig.update_layout(height=320, margin={"l": 10, "r": 10, "t": 30, "b": 10}, xaxis_title=labels.alpha_axis,
                      legend={"orientation": "h", "y": -0.25})
    fig.update_yaxes(title_text=labels.images, secondary_y=False)
    fig.update_yaxes(title_text=labels.top1, secondary_y=True)
    return fig


def landscape_figure(paths: Sequence, current_alpha: float | None = None,
                     names: Callable[[object], str] | None = None,
                     titles: tuple[str, str] | None = None, labels: PlotLabels = ENGLISH) -> go.Figure:
    """Loss (top) and top-1 (bottom) along alpha per path; dashed: the chord between the endpoint losses.

    ``names`` gives a path's legend entry (default: its ``labels.name`` and barrier), ``titles`` the two
    panels' titles (default: ``labels``'): the talk passes its language's.
    """
    titles = (labels.loss, labels.top1) if titles is None else titles
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.14, subplot_titles=titles)
    fig.update_annotations(x=0, xanchor="left")  # the titles stay clear of the alpha marker's label
    for i, p in enumerate(paths):
        color = COLORS[i % len(COLORS)]
        alphas, losses = np.asarray(p.alphas), np.asarray(p.losses)
        k0, k1 = int(np.argmin(np.abs(alphas))), int(np.argmin(np.abs(alphas - 1)))
        barrier = fill(labels.barrier, barrier=f"{p.barrier:.3f}")
        label = names(p) if names else f"{plot_text(labels.name(p.path))} ({barrier})"  # names: caller's markup
        path = plot_text(labels.name(p.path), template=True)
        fig.add_scatter(x=p.alphas, y=p.losses, mode="lines+markers", name=label, line={"color": color},
                        legendgroup=p.path, row=1, col=1,
                        hovertemplate="α = %{x:.2f}: " + fill(labels.loss_hover, loss="%{y:.3f}") + "<extra>" + path
                        + "</extra>")
        fig.add_scatter(x=[0, 1], y=[losses[k0], losses[k1]], mode="lines", line={"color": color, "dash": "dash"},
                        legendgroup=p.path, showlegend=False, hoverinfo="skip", row=1, col=1)
        fig.add_scatter(x=p.alphas, y=p.top1, mode="lines", line={"color": color}, legendgroup=p.path,
                        showlegend=False, row=2, col=1,
                        hovertemplate="α = %{x:.2f}: %{y:.1f}%<extra>" + path + "</extra>")
    for x in (0, 1):
        fig.add_vline(x=x, line_color="#bbbbbb", line_width=1)
    _alpha_marker(fig, current_alpha, above=True)
    fig.update_layout(height=560, margin={"l": 10, "r": 10, "t": 40, "b": 10}, legend={"orientation": "h", "y": -0.12})
    fig.update_xaxes(title_text=labels.alpha_axis, row=2, col=1)
    return fig
