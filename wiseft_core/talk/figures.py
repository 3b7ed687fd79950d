"""Projector styling for the app's figures, plus the two figures only the talk needs.

The curves and top-k bars come from ``wiseft_core.plots.curves`` unchanged; ``projector`` restyles a copy
for a washed-out projector: black text, white background, thick lines, saturated colours.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from wiseft_core.plots import curves as plots

INK = "#000000"
GRID = "#b0b0b0"
# Okabe-Ito: distinguishable for colour-blind viewers and on low-contrast projectors.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]
_REMAP = {old.lower(): PALETTE[i % len(PALETTE)] for i, old in enumerate(plots.COLORS)}
_REMAP.update({plots.HIGHLIGHT.lower(): "#009E73", plots.MUTED.lower(): "#7a7a7a"})
FONT_FAMILY = "DejaVu Sans, Arial, sans-serif"


def recolor(value):
    if isinstance(value, str):
        return _REMAP.get(value.lower(), value)
    if isinstance(value, (list, tuple)):
        return [recolor(v) for v in value]
    return value


def projector(figure: go.Figure, height: int | None = None, font_size: int = 22,
              show_legend: bool | None = None) -> go.Figure:
    """A restyled copy: large black text, thick lines, saturated colours; ``height=None`` fills its box."""
    fig = go.Figure(figure)
    fig.update_layout(
        template="simple_white", font={"size": font_size, "color": INK, "family": FONT_FAMILY},
        paper_bgcolor="#ffffff", plot_bgcolor="#ffffff", hoverlabel={"font": {"size": font_size}},
        margin={"l": 10, "r": 20, "t": 50 if fig.layout.title.text else 20, "b": 10},
        legend={"font": {"size": font_size}},
    )
    if fig.layout.title.text:
        fig.update_layout(title={"font": {"size": font_size + 2}, "x": 0.02})
    if height is None:
        fig.update_layout(height=None, width=None, autosize=True)
    else:
        fig.update_layout(height=height, width=None)
    if show_legend is not None:
        fig.update_layout(showlegend=show_legend)
    fig.update_xaxes(showgrid=True, gridcolor=GRID, linecolor=INK, linewidth=2, tickfont={"size": font_size},
                     title={"font": {"size": font_size}}, automargin=True)
    fig.update_yaxes(showgrid=True, gridcolor=GRID, linecolor=INK, linewidth=2, tickfont={"size": font_size},
                     title={"font": {"size": font_size}}, automargin=True)
    for trace in fig.data:
        if trace.type == "scatter":
            if trace.line is not None and trace.line.color is not None:
                trace.line.color = recolor(trace.line.color)
            if trace.mode and "lines" in trace.mode:
                trace.line.width = max(trace.line.width or 2, 2) * 2
            if trace.marker is not None:
                if trace.marker.color is not None:
                    trace.marker.color = recolor(trace.marker.color)
                trace.marker.size = int((trace.marker.size or 6) * 1.6)
        elif trace.type == "bar":
            trace.marker.color = recolor(trace.marker.color)
            trace.textfont = {"size": font_size, "color": INK}
            trace.textposition = "outside"
            trace.cliponaxis = False
    for shape in fig.layout.shapes or ():
        shape.line.width = 3
    for annotation in fig.layout.annotations or ():
        annotation.font.size = font_size
        annotation.font.color = annotation.font.color or INK
    return fig


def two_lines(label: str, longer_than: int = 12) -> str:
    """A long class name broken at its middle space: a narrow bar chart on a 1080p screen cuts it off otherwise."""
    if len(label) <= longer_than or " " not in label:
        return label
    spaces = [i for i, ch in enumerate(label) if ch == " "]
    cut = min(spaces, key=lambda i: abs(i - len(label) / 2))
    return f"{label[:cut]}<br>{label[cut + 1:]}"


def accuracy_along_alpha_figure(rows: Sequence[dict], reference_name: str, shifts_name: str, x_label: str,
                                y_label: str, title: str | None = None,
                                current_alpha: float | None = None) -> go.Figure:
    """Reference accuracy and the shift average against alpha: no dip in between = no barrier along the line."""
    rows = sorted(rows, key=lambda r: float(r["alpha"]))
    alphas = [float(r["alpha"]) for r in rows]
    fig = go.Figure()
    lines = (("reference", reference_name, PALETTE[0]), ("avg_shifts", shifts_name, PALETTE[1]))
    series = [(name, color, [r.get(key) for r in rows]) for key, name, color in lines]
    for name, color, values in series:
        fig.add_trace(go.Scatter(x=alphas, y=values, mode="lines+markers", name=name,
                                 line={"color": color, "width": 2}, marker={"size": 6},
                                 hovertemplate="α = %{x:.2f}: %{y:.1f}<extra>" + name + "</extra>"))
    # Lines labelled at their right end, inside the gap between them: a legend would take a projector's height.
    ends = [values[-1] for *_, values in series]
    if alphas and None not in ends:
        upper = 0 if ends[0] >= ends[1] else 1
        for i, (name, color, values) in enumerate(series):
            fig.add_annotation(x=alphas[-1], y=values[-1], text=name, showarrow=False, xanchor="right",
                               yanchor="top" if i == upper else "bottom", yshift=-8 if i == upper else 16,
                               font={"color": color})
    fig.update_layout(title=title, xaxis_title=x_label, yaxis_title=y_label, showlegend=False)
    if current_alpha is not None and alphas and alphas[0] <= current_alpha <= alphas[-1]:
        fig.add_vline(x=current_alpha, line={"dash": "dot", "color": INK})
    return fig


def cost_figure(weights_ms: float, outputs_ms: float, weights_name: str, outputs_name: str,
                x_label: str, unit: str = "ms") -> go.Figure:
    """Two horizontal bars: measured milliseconds of the weight- and the output-space ensemble."""
    return go.Figure({
        "data": [{
            "type": "bar", "orientation": "h", "x": [outputs_ms, weights_ms], "y": [outputs_name, weights_name],
            "marker": {"color": [PALETTE[1], PALETTE[0]]},
            "text": [f"{outputs_ms:.1f} {unit}", f"{weights_ms:.1f} {unit}"],
            "hovertemplate": "%{y}: %{x:.2f} " + unit + "<extra></extra>",
        }],
        # room right of the longer bar for its label, "3279.5 ms" on a busy machine included
        "layout": {"xaxis": {"title": {"text": x_label}, "range": [0, max(outputs_ms, weights_ms) * 1.6]},
                   "showlegend": False},
    })


def poll_dtick(top: int) -> int:
    """Whole answers on the count axis, about five ticks (the deck's ``pollDraw`` uses the same rule)."""
    return max(1, -(-top // 5))


def poll_figure(alphas: Sequence[float], counts: Sequence[int], answers: Sequence[tuple[float, str, str]],
                x_label: str, y_label: str, title: str) -> go.Figure:
    """The room's answers per alpha (bars) and the measured best alphas (dashed lines, labelled at the top).

    The deck replaces the bars' heights as votes arrive; the lines are the answer the room is compared with.
    """
    top = max(max(counts, default=0), 1)
    fig = go.Figure({
        "data": [{"type": "bar", "x": list(alphas), "y": list(counts), "width": 0.04,
                  "text": [str(n) if n else "" for n in counts], "marker": {"color": PALETTE[5]},
                  "hovertemplate": "α = %{x:g}: %{y}<extra></extra>"}],
        "layout": {"title": {"text": title}, "showlegend": False, "bargap": 0,
                   "xaxis": {"title": {"text": x_label}, "range": [-0.04, 1.04], "dtick": 0.1},
                   "yaxis": {"title": {"text": y_label}, "range": [0, top * 1.3], "dtick": poll_dtick(top)}},
    })
    middle = sum(a for a, *_ in answers) / len(answers) if len(answers) > 1 else 0.5
    for alpha, label, color in answers:  # the lower alpha's label left of its line, the higher one's right
        left = alpha <= middle if len(answers) > 1 else alpha > middle
        fig.add_vline(x=alpha, line={"dash": "dash", "color": color, "width": 3}, layer="above", opacity=1)
        fig.add_annotation(x=alpha, y=1, xref="x", yref="paper", text=label, showarrow=False, align="left" if not left
                           else "right", xanchor="right" if left else "left", xshift=-6 if left else 6,
                           yanchor="top", font={"color": color}, bgcolor="rgba(255,255,255,0.85)")
    return fig


def soups_step_figure(cloud: Sequence[tuple[float, float]], soups: Sequence[tuple[str, float, float, str]],
                      curve: Sequence[tuple[float, float]], names: dict[str, str], x_label: str,
                      y_label: str) -> go.Figure:
    """The talk's soups step: the published fine-tunes as a cloud (reference vs shift average), the soups marked,
    a WiSE-FT curve beside, in the projector's style (the app's two-panel view is ``plots.soups.soup_cloud_figure``).

    ``cloud`` and ``curve`` are (reference, shifts) points; ``soups`` are (name, reference, shifts, symbol);
    ``names`` labels the cloud and the curve for the legend (the talk's language).
    """
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[x for x, _ in curve], y=[y for _, y in curve], mode="lines+markers",
                             name=names["curve"], line={"color": PALETTE[0], "width": 2}, marker={"size": 5},
                             hovertemplate="%{x:.1f}, %{y:.1f}<extra></extra>"))
    fig.add_trace(go.Scatter(x=[x for x, _ in cloud], y=[y for _, y in cloud], mode="markers", name=names["cloud"],
                             marker={"color": "#7a7a7a", "size": 6, "opacity": 0.7},
                             hovertemplate="%{x:.1f}, %{y:.1f}<extra></extra>"))
    for (name, x, y, symbol), color in zip(soups, (PALETTE[2], PALETTE[1])):
        fig.add_trace(go.Scatter(x=[x], y=[y], mode="markers", name=name,
                                 marker={"color": color, "size": 14, "symbol": symbol, "line": {"color": INK,
                                                                                                "width": 1}},
                                 hovertemplate=f"{name}: %{{x:.2f}}, %{{y:.2f}}<extra></extra>"))
    fig.update_layout(xaxis_title=x_label, yaxis_title=y_label, showlegend=True)
    return fig
