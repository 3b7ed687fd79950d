"""One ``Slide`` per step of the talk, built from the texts (one language) and the talk's numbers.

A slide is a title, its text as HTML, and panels (plotly figures or HTML: tables, code, images).
The app lays them out with Streamlit columns and the export with CSS; both get the same content.
"""

from __future__ import annotations

import ast
import base64
import html
import inspect
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import plotly.graph_objects as go

from wiseft_core.data import world
from wiseft_core.demo.assets import DEMO_DIR
from wiseft_core.demo.soup_results import GREEDY, UNIFORM, read_results_csv
from wiseft_core.demo.soup_results import best_single as demo_best_single
from wiseft_core.demo.soups import RESULTS_CSV as SOUPS_CSV
from wiseft_core.demo.soups import SUBDIR as SOUPS_SUBDIR
from wiseft_core.engine import interpolation
from wiseft_core.engine.predict import top_k
from wiseft_core.errors import WiseftError
from wiseft_core.evaluate.published_soups import best_single as published_best
from wiseft_core.evaluate.published_soups import load_published_soups
from wiseft_core.evaluate.results import SUMMARY_KEYS
from wiseft_core.plots import curves as plots
from wiseft_core.serve.audience import POLL_ALPHAS
from wiseft_core.serve.markup import plot_text
from wiseft_core.talk import figures, html_text
from wiseft_core.talk.data import PAPER_MODEL, TalkData
from wiseft_core.talk.texts import Texts

STEP_IDS = ("title", "shift", "definitions", "tradeoff", "method", "code", "live", "poll", "curve", "cost", "linear",
            "why", "results", "takeaways", "sources")
STEP_COUNT = len(STEP_IDS)  # the talk as shipped; a teacher's plan (texts.apply_plan) may show more or fewer
OPTIONAL_STEP_IDS = ("soups",)  # in the texts, shown when a teacher's plan asks for them ("show")
SOUPS_CURVE_MODEL = "CLIP ViT-B/16"  # the WiSE-FT paper's CLIP nearest to the soups' ViT-B/32
DEMO_SOUPS_CSV = DEMO_DIR / SOUPS_SUBDIR / SOUPS_CSV  # read each time the step is built: the demo is rebuilt apart
GALLERY_PER_ROW = 4
TOP_K = 3
LEGEND_INSIDE = {"orientation": "v", "x": 0.01, "y": 0.99, "xanchor": "left", "yanchor": "top",
                 "bgcolor": "rgba(255,255,255,0.85)", "bordercolor": "#000000", "borderwidth": 1}
# The paper's Algorithm 1 (PyTorch pseudocode for WiSE-FT), verbatim as the seminar's slides show it.
ALGORITHM_1 = """\
def wse(model, zeroshot_checkpoint, finetuned_checkpoint, alpha):
    # load state dicts from checkpoints
    theta_0 = torch.load(zeroshot_checkpoint)["state_dict"]
    theta_1 = torch.load(finetuned_checkpoint)["state_dict"]
    # make sure checkpoints are compatible
    assert set(theta_0.keys()) == set(theta_1.keys())
    # interpolate between all weights in the checkpoints
    theta = {
        key: (1-alpha) * theta_0[key] + alpha * theta_1[key]
        for key in theta_0.keys()
    }
    # update the model (in-place) according to the new weights
    model.load_state_dict(theta)

def wise_ft(model, dataset, zeroshot_checkpoint, alpha, hparams):
    # load the zero-shot weights
    theta_0 = torch.load(zeroshot_checkpoint)["state_dict"]
    model.load_state_dict(theta_0)
    # standard fine-tuning
    finetuned_checkpoint = finetune(model, dataset, hparams)
    # perform weight-space ensembling (in-place)
    wse(model, zeroshot_checkpoint, finetuned_checkpoint, alpha)"""
# Table 1's rows (paper_summary.csv names) and their label keys in the texts.
TABLE1_LABELS = {
    "Zero-shot [82] (numbers from the CLIP paper)": "t1_zeroshot_clip", "Fine-tuned LC [82] (CLIP paper)": "t1_lc_clip",
    "Zero-shot (PyTorch)": "t1_zeroshot", "Fine-tuned LC (ours)": "t1_lc", "Fine-tuned E2E (ours)": "t1_e2e",
    "WiSE-FT LC, α=0.5": "t1_wise_lc_half", "WiSE-FT LC, optimal α": "t1_wise_lc_opt",
    "WiSE-FT E2E, α=0.5": "t1_wise_e2e_half", "WiSE-FT E2E, optimal α": "t1_wise_e2e_opt",
}


@dataclass(frozen=True)
class TalkState:
    """The presenter's choices: alpha, name and date, the live image; figure sizing for the screen."""

    alpha: float = 0.5
    presenter: str = ""
    date: str = ""
    reviewer: str = ""
    hacker: str = ""
    audience_url: str = ""  # the title step shows it with a QR code (students follow on their phones)
    live_index: int | None = None
    figure_height: int | None = None  # None: figures fill their box (the HTML export)
    font_size: int = 24


@dataclass
class Panel:
    """A figure or a block of HTML, shown side by side with the slide's other panels."""

    kind: str  # "figure" or "html"
    figure: go.Figure | None = None
    html: str = ""
    role: str = ""  # "live_alpha": the live step's figure that follows the alpha slider


@dataclass
class Slide:
    step: int
    id: str
    title: str
    text_html: str
    notes_html: str
    panels: list[Panel] = field(default_factory=list)
    layout: str = "side"  # "side": text left, panels right; "stack": text above panels; "center": text only
    panel_direction: str = "row"  # "row" or "column"


def clamp_step(step, count: int = STEP_COUNT) -> int:
    """A step number from a URL or a key press, kept inside 1..count (bad values -> 1)."""
    try:
        value = int(step)
    except (TypeError, ValueError):
        return 1
    return min(max(value, 1), count)


def _num(value, digits: int = 1) -> str:
    return "—" if value is None else f"{float(value):.{digits}f}"


def _table(headers: list[str], rows: list[list[str]], highlight: list[bool] | None = None,
           caption: str = "", best: bool = False) -> str:
    """An HTML table; ``best`` underlines the highest number of each column (the paper's bold)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    tops = [max((_float(r[j]) for r in rows), default=None) if best else None for j in range(len(headers))]
    body = []
    for i, row in enumerate(rows):
        cls = ' class="hl"' if highlight and highlight[i] else ""
        cells = "".join(
            (f'<td class="best">{html.escape(c)}</td>' if tops[j] is not None and _float(c) == tops[j]
             else f"<td>{html.escape(c)}</td>") if j else f"<th>{html.escape(c)}</th>" for j, c in enumerate(row))
        body.append(f"<tr{cls}>{cells}</tr>")
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f'<table class="talk-table">{cap}<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("-inf")


def _code(title: str, code: str) -> str:
    return (f'<div class="talk-code"><div class="talk-code-title">{html.escape(title)}</div>'
            f"<pre><code>{html.escape(code)}</code></pre></div>")


def png_data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def function_source(fn) -> str:
    """A function's source as it is in its file today, without its docstring."""
    lines, _ = inspect.getsourcelines(fn)
    text = textwrap.dedent("".join(lines))
    node = ast.parse(text).body[0]
    first = node.body[0] if node.body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        kept = text.splitlines()
        text = "\n".join(kept[:first.lineno - 1] + kept[first.end_lineno:])
    return text.rstrip()


def _without_validators(source: str) -> str:
    """``source`` without the statements of its body that call a ``check_*`` validator (a return is kept)."""
    node = ast.parse(source).body[0]
    dropped = set()
    for statement in node.body:
        calls = [c for c in ast.walk(statement) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)]
        if not isinstance(statement, ast.Return) and any(c.func.id.startswith("check") for c in calls):
            dropped.update(range(statement.lineno, statement.end_lineno + 1))
    return "\n".join(line for i, line in enumerate(source.splitlines(), start=1) if i not in dropped)


def interpolation_source() -> tuple[str, str]:
    """The project's real merge function and the helpers of its own module it calls, read from the source.

    Validators (``check_*`` calls) and private helpers are left out: the slide shows the arithmetic, next to
    Algorithm 1, every line verbatim from the file.
    """
    fn = interpolation.interpolate_state_dicts
    called = [n.func.id for n in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(fn))))
              if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    helpers = [getattr(interpolation, name) for name in dict.fromkeys(called)
               if not name.startswith(("check", "_")) and inspect.isfunction(getattr(interpolation, name, None))
               and getattr(interpolation, name).__module__ == interpolation.__name__]
    code = "\n\n".join(_without_validators(function_source(f)) for f in [fn, *helpers])
    package_root = Path(interpolation.__file__).resolve().parents[1]
    return code, Path(inspect.getsourcefile(fn)).resolve().relative_to(package_root).as_posix()


def _sweep_group(data: TalkData, finetuning: str, ensemble: str) -> list[dict]:
    return sorted((r for r in data.sweep if r["finetuning"] == finetuning and r["ensemble"] == ensemble),
                  key=lambda r: float(r["alpha"]))


def _paper_group(data: TalkData, finetuning: str = "end-to-end") -> list[dict]:
    return [r for r in data.paper if r["model"] == PAPER_MODEL and r["finetuning"] == finetuning]


def _at(rows: list[dict], alpha: float) -> dict | None:
    return next((r for r in rows if abs(float(r["alpha"]) - alpha) < 1e-6), None)


def _source_name(data: TalkData, texts: Texts) -> str:
    return texts.labels["demo"] if data.source == "demo" else texts.labels["this_pair"]


def _fig(figure: go.Figure, state: TalkState, show_legend: bool | None = None) -> Panel:
    return Panel("figure", figures.projector(figure, state.figure_height, state.font_size, show_legend))


def _curve(rows: list[dict], title: str, texts: Texts, state: TalkState, group_keys=("source",)) -> go.Figure:
    figure = plots.accuracy_curves_figure(
        rows, "avg_shifts", x_label=texts.labels["reference_acc"], y_label=texts.labels["avg_shift_acc"],
        group_keys=group_keys, current_alpha=state.alpha, title=title)
    for trace in figure.data:  # the app's star is named in English
        if trace.name == plots.CURRENT_ALPHA_NAME:
            trace.name = texts.labels["current_alpha"]
    return figure


def _no_sweep(texts: Texts) -> Panel:
    return Panel("html", html=f'<p class="talk-note">{html_text.inline(texts.ui["no_sweep"])}</p>')


# --- one function per step -------------------------------------------------------------------------------

def _title(slide: Slide, data: TalkData, texts: Texts, state: TalkState) -> None:
    """Paper, the seminar's three roles (names optional), the date, and the audience link with its QR code."""
    lab = texts.labels
    roles = [(lab["role_presenter"], state.presenter), (lab["role_reviewer"], state.reviewer),
             (lab["role_hacker"], state.hacker)]
    line = " · ".join(html.escape(role) + (f": <strong>{html.escape(name.strip())}</strong>" if name.strip() else "")
                      for role, name in roles)
    date = f" · {html.escape(state.date.strip())}" if state.date.strip() else ""
    slide.text_html += f'\n<p class="talk-roles">{line}{date}</p>'
    if state.audience_url:
        slide.text_html += audience_block(state.audience_url, lab["audience_link"])
    slide.layout = "center"


def qr_svg(url: str) -> str:
    """The URL as an inline SVG QR code (drawn offline), or "" when segno is not installed."""
    try:
        import segno
    except ImportError:
        return ""
    return segno.make(url, error="m").svg_inline(dark="#000000", light="#ffffff", border=2, omitsize=True)


def audience_block(url: str, label: str) -> str:
    shown = url.split("://", 1)[-1]
    return (f'<div class="talk-qr">{qr_svg(url)}<span>{html.escape(label)}:<br>'
            f'<code>{html.escape(shown)}</code></span></div>')


def _shift(slide: Slide, data: TalkData, texts: Texts, state: TalkState) -> None:
    rows = []
    for distribution, samples in data.gallery.items():
        images = "".join(
            f'<img class="talk-thumb" src="{png_data_uri(s.path.read_bytes())}" '
            f'alt="{html.escape(_sample_name(s, texts))}" title="{html.escape(_sample_name(s, texts))}">'
            for s in samples[:GALLERY_PER_ROW])
        name = texts.distributions.get(distribution, "")
        shown = texts.demo_distributions.get(distribution, distribution)
        rows.append(f'<tr><th>{html.escape(shown)}</th><td class="talk-thumbs">{images}</td>'
                    f"<td>{html.escape(name)}</td></tr>")
    slide.panels.append(Panel("html", html=f'<table class="talk-gallery"><tbody>{"".join(rows)}</tbody></table>'))
    slide.layout = "stack"


def _sample_name(sample, texts: Texts) -> str:
    return texts.classname(sample.label) if sample.label else sample.key


def _marks(texts: Texts) -> str:
    """The seminar's summary: zero-shot robust and accurate, fine-tuned accurate not robust, WiSE-FT both."""
    lab = texts.labels
    yes, no = "✓", "✗"
    rows = [[lab["zero_shot"], yes, yes], [lab["fine_tuned"], yes, no], ["WiSE-FT", yes, yes]]
    return _table(["", lab["accuracy_mark"], lab["robustness_mark"]], rows, [False, False, True]).replace(
        'class="talk-table"', 'class="talk-table talk-marks"')


def _tradeoff(slide: Slide, data: TalkData, texts: Texts, state: TalkState) -> None:
    lab = texts.labels
    table1 = {r["row"]: r for r in data.table1}
    weights = _sweep_group(data, "end-to-end", "weights")
    ours = [_at(weights, 0.0), _at(weights, 1.0)]
    source = _source_name(data, texts)
    headers = ["", f"{lab['paper_short']}: ImageNet", f"{lab['paper_short']}: {lab['avg_shifts']}",
               f"{source}: {lab['reference']}", f"{source}: {lab['avg_shifts']}"]
    body = []
    for label, paper_row, our in ((lab["zero_shot"], "Zero-shot (PyTorch)", ours[0]),
                                  (lab["fine_tuned"], "Fine-tuned E2E (ours)", ours[1])):
        p = table1.get(paper_row, {})
        body.append([label, _num(p.get("IN")), _num(p.get("avg_shifts")),
                     _num(our and our["reference"]), _num(our and our["avg_shifts"])])
    slide.panels.append(Panel("html", html=_marks(texts)))
    slide.panels.append(Panel("html", html=_table(headers, body)))
    if not data.sweep:
        slide.panels.append(_no_sweep(texts))
    slide.layout = "stack"
    slide.panel_direction = "column"


def _method(slide: Slide, data: TalkData, texts: Texts, state: TalkState) -> None:
    """The two steps in words, and the paper's Algorithm 1 (``wse`` and ``wise_ft``) verbatim beside them."""
    slide.panels.append(Panel("html", html=_code(texts.labels["algorithm1"], ALGORITHM_1)))
    slide.layout = "side"


def _code_step(slide: Slide, data: TalkData, texts: Texts, state: TalkState) -> None:
    """Algorithm 1's ``wse`` next to the function this project really calls, read from its source file."""
    source, where = interpolation_source()
    wse = ALGORITHM_1.split("\n\ndef wise_ft")[0]
    slide.panels.append(Panel("html", html=_code(texts.labels["algorithm1"], wse)))
    slide.panels.append(Panel("html", html=_code(texts.labels["our_code"].format(where=where), source)))
    slide.layout = "stack"


def _named(entries: list, texts: Texts) -> list:
    """Top-k entries with their class names in the talk's language."""
    return [(texts.classname(name), *rest) for name, *rest in entries]


def live_alpha_index(data: TalkData, alpha: float) -> int:
    """The grid alpha nearest to ``alpha`` (the live step's predictions are precomputed on the grid)."""
    return int(np.argmin([abs(a - alpha) for a in data.live_alphas]))


def _live(slide: Slide, data: TalkData, texts: Texts, state: TalkState) -> None:
    if not data.live:
        slide.panels.append(Panel("html", html=f'<p class="talk-note">{html.escape(texts.ui["no_pair"])}</p>'))
        return
    i = state.live_index if state.live_index is not None and 0 <= state.live_index < len(data.live) \
        else data.live_default
    image = data.live[i]
    a = live_alpha_index(data, state.alpha)
    alpha = data.live_alphas[a]
    # the shift's name without its citation (step 2 cites it): the image column has room for three lines
    caption = texts.distributions.get(image.distribution, image.distribution).split(" (")[0]
    label = (f"{texts.labels['true_label']}: <strong>{html.escape(texts.classname(image.label))}</strong>"
             if image.label else "")
    slide.panels.append(Panel("html", html=f'<figure class="talk-live-image"><img src="{png_data_uri(image.png)}" '
                                      f'alt="{html.escape(image.label or image.key)}"><figcaption>'
                                      f"{html.escape(caption)}<br>{label}</figcaption></figure>"))
    columns = ((data.live_alphas.index(0.0), texts.labels["alpha0"]),
               (a, texts.labels["prediction_at"].format(alpha=f"{alpha:g}")),
               (data.live_alphas.index(1.0), texts.labels["alpha1"]))
    for index, title in columns:
        entries = _named(top_k(data.live_probs[index, i], data.classnames, TOP_K), texts)
        panel = _fig(plots.top_k_figure(entries, title, texts.classname(image.label) if image.label else None), state,
                     show_legend=False)
        panel.role = "live_alpha" if title == columns[1][1] else ""
        panel.figure.data[0].y = [figures.two_lines(name) for name in panel.figure.data[0].y]
        # the bars carry their percentages: no tick labels to crowd a narrow chart, room for the text on the right
        panel.figure.update_xaxes(showticklabels=False, range=[0, 1.3])
        slide.panels.append(panel)
    slide.layout = "stack"


def live_frames(slide: Slide, data: TalkData, texts: Texts, state: TalkState) -> dict | None:
    """The live step's bars at every grid alpha, so the deck's slider redraws them in the browser, no Python."""
    where = next((j for j, p in enumerate(slide.panels) if p.role == "live_alpha"), None)
    if where is None or not data.live:
        return None
    image = state.live_index if state.live_index is not None and 0 <= state.live_index < len(data.live) \
        else data.live_default
    true_label = texts.classname(data.live[image].label) if data.live[image].label else None
    frames = []
    for k, alpha in enumerate(data.live_alphas):
        entries = _named(top_k(data.live_probs[k, image], data.classnames, TOP_K), texts)
        bars = plots.top_k_figure(entries, "", true_label).data[0]
        frames.append({"x": list(bars.x), "y": [figures.two_lines(name) for name in bars.y], "text": list(bars.text),
                       "color": figures.recolor(list(bars.marker.color)),
                       "title": texts.labels["prediction_at"].format(alpha=f"{alpha:g}")})
    return {"step": slide.step, "panel": where, "alphas": list(data.live_alphas),
            "labels": [f"{a:g}" for a in data.live_alphas], "active": live_alpha_index(data, state.alpha),
            "frames": frames}


def best_alphas(data: TalkData) -> dict[str, tuple[float, float]]:
    """The measured answer to the poll: {"avg_shifts"/"reference": (alpha, top-1)} over the sweep's alphas."""
    weights = _sweep_group(data, "end-to-end", "weights")
    best = {}
    for key in ("avg_shifts", "reference"):
        measured = [r for r in weights if r.get(key) is not None]
        if measured:
            top = max(measured, key=lambda r: r[key])
            best[key] = (float(top["alpha"]), float(top[key]))
    return best


def _poll(slide: Slide, data: TalkData, texts: Texts, state: TalkState) -> None:
    """The room's answers (zero until the deck hears the votes) next to the measured best alphas."""
    lab = texts.labels
    best = best_alphas(data)
    answers = [(best[key][0], f"{lab[f'poll_best_{name}']}<br>α = {best[key][0]:g} ({best[key][1]:.1f} %)", color)
               for name, key, color in (("shifts", "avg_shifts", figures.PALETTE[1]),
                                        ("reference", "reference", figures.PALETTE[0])) if key in best]
    figure = figures.poll_figure(POLL_ALPHAS, [0] * len(POLL_ALPHAS), answers, lab["poll_x"], lab["poll_y"],
                                 lab["poll_answers"].format(n=0))
    panel = _fig(figure, state, False)
    panel.role = "poll"
    slide.panels.append(panel)
    if not best:
        slide.panels.append(_no_sweep(texts))
    slide.layout = "side"


def _curve_step(slide: Slide, data: TalkData, texts: Texts, state: TalkState) -> None:
    slide.panels.append(_fig(_curve(_paper_group(data), texts.labels["paper"], texts, state), state, False))
    weights = _sweep_group(data, "end-to-end", "weights")
    if weights:
        slide.panels.append(_fig(_curve([{**r, "source": "sweep"} for r in weights], _source_name(data, texts),
                                        texts, state), state, False))
    else:
        slide.panels.append(_no_sweep(texts))
    slide.layout = "stack"  # three short lines above: each chart gets half the width, its titles fit


def _cost(slide: Slide, data: TalkData, texts: Texts, state: TalkState) -> None:
    if data.costs is None:
        slide.panels.append(Panel("html", html=f'<p class="talk-note">{html.escape(texts.ui["no_pair"])}</p>'))
        return
    c = data.costs
    lab = texts.labels
    slide.panels.append(_fig(figures.cost_figure(c.weights_ms, c.outputs_ms, lab["weights"], lab["outputs"],
                                                 lab["ms"], lab["ms_unit"]), state, False))


def _linear(slide: Slide, data: TalkData, texts: Texts, state: TalkState) -> None:
    lab = texts.labels
    rows = [{**r, "ensemble": lab[r["ensemble"]]} for r in data.sweep if r["finetuning"] == "linear classifier"]
    if rows:
        panel = _fig(_curve(rows, _source_name(data, texts), texts, state, group_keys=("ensemble",)), state, True)
        panel.figure.update_layout(legend=LEGEND_INSIDE)  # below the axis it would cover the axis title
        slide.panels.append(panel)
    else:
        paper = [{**r, "source": lab["paper_lc"]} for r in _paper_group(data, "linear classifier")]
        slide.panels.append(_fig(_curve(paper, lab["paper_lc"], texts, state), state, False))
        slide.panels.append(_no_sweep(texts))


def lc_gap(data: TalkData) -> float | None:
    """Largest difference (points) between the weight- and output-space linear-classifier curves."""
    weights = _sweep_group(data, "linear classifier", "weights")
    outputs = {round(float(r["alpha"]), 6): r for r in _sweep_group(data, "linear classifier", "outputs")}
    gaps = [abs(w[k] - outputs[round(float(w["alpha"]), 6)][k]) for w in weights
            if round(float(w["alpha"]), 6) in outputs for k in ("reference", "avg_shifts")
            if w.get(k) is not None and outputs[round(float(w["alpha"]), 6)].get(k) is not None]
    return max(gaps) if gaps else None


LANDSCAPE_PATH_LABELS = {  # the demo's path names (wiseft_core.demo.inspection.PATHS) -> the talk's labels
    "zero-shot to fine-tuned": "path_zeroshot_finetuned",
    "fine-tune seeds 0 and 1": "path_finetune_seeds",
    "pretraining seeds 0 and 1": "path_pretraining_seeds",
}


def _why(slide: Slide, data: TalkData, texts: Texts, state: TalkState) -> None:
    """The landscape (loss along alpha, its barrier) when measured; until then accuracy along alpha."""
    lab = texts.labels
    if data.landscape:
        from wiseft_core.plots.inspection import landscape_figure

        reference = data.landscape[0].dataset  # one distribution (the reference, measured first): a slide, not a table

        def name(path) -> str:
            label = lab.get(LANDSCAPE_PATH_LABELS.get(path.path, ""), plot_text(path.path))  # a file's name: text
            return f"{label}<br>({lab['barrier']} {path.barrier:.2f})"  # two lines: a narrower legend

        figure = landscape_figure([p for p in data.landscape if p.dataset == reference], state.alpha, names=name,
                                  titles=(lab["loss"], lab["accuracy"]))
        figure.update_xaxes(title_text=lab["alpha_axis"], row=2, col=1)
        panel = _fig(figure, state, True)
        # the legend beside the chart, not under it: below, it runs off a 720-pixel-high screen
        panel.figure.update_layout(legend={"orientation": "v", "x": 1.02, "xanchor": "left", "y": 1, "yanchor": "top"},
                                   margin={"t": 2 * state.font_size})  # the top subplot's title sits in this margin
        slide.panels.append(panel)
        slide.layout = "stack"  # four lines of text above, the chart with its legend across the width
        return
    sets = [(_paper_group(data), lab["paper"])]
    weights = _sweep_group(data, "end-to-end", "weights")
    if weights:
        sets.append((weights, _source_name(data, texts)))
    for rows, title in sets:
        figure = figures.accuracy_along_alpha_figure(rows, lab["reference"], lab["avg_shifts"], lab["alpha_axis"],
                                                     lab["accuracy"], title, state.alpha)
        slide.panels.append(_fig(figure, state, False))
    if not weights:
        slide.panels.append(_no_sweep(texts))
    slide.layout = "stack"  # two charts need the full width


def optimal_row(rows: list[dict], columns: list[str]) -> dict:
    """The paper's "optimal alpha" row: for each column separately, the best accuracy over alpha."""
    return {c: max((r[c] for r in rows if r.get(c) is not None), default=None) for c in columns}


def _results(slide: Slide, data: TalkData, texts: Texts, state: TalkState) -> None:
    """The paper's full Table 1 (best of each column underlined) and the same rows measured on this pair."""
    lab = texts.labels
    paper_cols = ["IN", "IN_V2", "IN_R", "IN_Sketch", "ObjectNet", "IN_A", "avg_shifts", "avg_ref_shifts"]
    short = ["IN", "V2", "R", "Sketch", "ObjNet", "A", lab["avg_shifts_col"], lab["avg_ref_shifts_col"]]
    rows = [[lab.get(TABLE1_LABELS.get(r["row"], ""), r["row"]), *(_num(r.get(c)) for c in paper_cols)]
            for r in data.table1]
    highlight = ["WiSE-FT" in r["row"] for r in data.table1]
    slide.panels.append(Panel("html", html=_table(["", *short], rows, highlight, lab["table1"], best=True)))
    weights = _sweep_group(data, "end-to-end", "weights")
    if weights:
        shifts = [k for k in weights[0] if k not in (*SUMMARY_KEYS, "source")]
        cols = ["reference", *shifts, "avg_shifts"]
        names = [texts.demo_distributions.get(s.split(":")[-1], s.split(":")[-1]) for s in shifts]
        headers = ["", lab["ref_short"], *names, lab["avg_short"]]
        picked = [(lab["zero_shot"], _at(weights, 0.0)), (lab["fine_tuned"], _at(weights, 1.0)),
                  (lab["wiseft_half"], _at(weights, 0.5)), (lab["wiseft_opt"], optimal_row(weights, cols))]
        ours = [[name, *(_num(row and row.get(c)) for c in cols)] for name, row in picked]
        caption = lab["our_table"].format(source=_source_name(data, texts)) + " · " + lab["optimal_note"]
        slide.panels.append(Panel("html", html=_table(headers, ours, [False, False, True, True], caption)))
    else:
        slide.panels.append(_no_sweep(texts))
    slide.layout = "stack"
    slide.panel_direction = "column"


def _soups(slide: Slide, data: TalkData, texts: Texts, state: TalkState) -> None:
    """Beyond two models: the published 72 fine-tunes, their uniform and greedy soups, the WiSE-FT curve."""
    lab = texts.labels
    try:
        models = load_published_soups()
    except WiseftError as err:
        slide.panels.append(Panel("html", html=f'<p class="talk-note">{html.escape(str(err))}</p>'))
        return
    cloud = [(m.reference, m.avg_shifts) for m in models if "soup" not in m.kind]
    soups = [(lab[key], m.reference, m.avg_shifts, symbol) for kind, key, symbol in
             (("uniform soup", "uniform_soup", "diamond"), ("greedy soup", "greedy_soup", "star"))
             for m in models if m.kind == kind]
    curve = [(r["reference"], r["avg_shifts"]) for r in sorted(data.paper, key=lambda r: float(r["alpha"]))
             if r["model"] == SOUPS_CURVE_MODEL and r["finetuning"] == "end-to-end" and r["ensemble"] == "weights"]
    figure = figures.soups_step_figure(cloud, soups, curve, {"cloud": lab["soups_cloud"], "curve": lab["soups_curve"]},
                                       lab["soups_x"], lab["soups_y"])
    panel = _fig(figure, state, True)
    # lower left: the curve runs along the top, the cloud sits lower right
    panel.figure.update_layout(legend={**LEGEND_INSIDE, "y": 0.01, "yanchor": "bottom"})
    slide.panels.append(panel)
    slide.layout = "stack"


def soup_values(texts: Texts) -> dict[str, str]:
    """The soups step's numbers, read when the slide is built: the published files and the demo's ``soups.csv``."""
    values = dict.fromkeys(("soup_greedy_in", "soup_best_in", "soup_uniform_shifts", "soup_best_shifts"), "—")
    try:
        models = load_published_soups()
        best, by_kind = published_best(models), {m.kind: m for m in models}
        values.update(soup_greedy_in=f"{by_kind['greedy soup'].reference:.2f}", soup_best_in=f"{best.reference:.2f}",
                      soup_uniform_shifts=f"{by_kind['uniform soup'].avg_shifts:.2f}",
                      soup_best_shifts=f"{best.avg_shifts:.2f}")
    except (WiseftError, KeyError):
        pass
    values["demo_soups"] = demo_soups_line(texts)
    return values


def demo_soups_line(texts: Texts, path: Path = DEMO_SOUPS_CSV) -> str:
    """One sentence on the demo world's own soups (test draw), or that they are not built."""
    try:
        models = {m.name: m for m in read_results_csv(path)}
        best, greedy, uniform = demo_best_single(models.values()), models[GREEDY], models[UNIFORM]
    except (OSError, WiseftError, KeyError, ValueError):
        return texts.labels["demo_soups_missing"]
    ref = world.REFERENCE
    return texts.labels["demo_soups_line"].format(
        n=sum(m.is_fine_tune for m in models.values()), greedy=f"{greedy.test[ref]:.1f}",
        best=f"{best.test[ref]:.1f}", greedy_shifts=f"{greedy.avg_shifts('test'):.1f}",
        uniform_shifts=f"{uniform.avg_shifts('test'):.1f}", best_shifts=f"{best.avg_shifts('test'):.1f}")


def _text_only(slide: Slide, data: TalkData, texts: Texts, state: TalkState) -> None:
    slide.layout = "center"


BUILDERS = {
    "title": _title, "shift": _shift, "definitions": _text_only, "tradeoff": _tradeoff, "method": _method,
    "code": _code_step, "live": _live, "poll": _poll,
    "curve": _curve_step, "cost": _cost, "linear": _linear, "why": _why, "results": _results,
    "soups": _soups, "takeaways": _text_only, "sources": _text_only,
}


def _ratio_note(costs, texts: Texts) -> str:
    """How sure the measured ratio is: its quartiles over interleaved runs, or that the machine is too noisy."""
    if costs is None:
        return "—"
    low, high = costs.ratio_quartiles
    if costs.too_noisy and costs.ratios:
        low, high = min(costs.ratios), max(costs.ratios)
    key = "too_noisy" if costs.too_noisy else "ratio_note"
    return texts.labels[key].format(runs=len(costs.ratios) or 1, low=f"{low:.1f}", high=f"{high:.1f}")


def _values(data: TalkData, state: TalkState, texts: Texts) -> dict[str, str]:
    """Numbers the step texts may name as ``{placeholders}``."""
    costs = data.costs
    alphas = ([a for p in data.landscape for a in p.alphas] or [float(r["alpha"]) for r in data.sweep]
              or [float(r["alpha"]) for r in data.paper] or [0.0, 1.0])
    gap = lc_gap(data)
    best = best_alphas(data)
    return {
        "source": _source_name(data, texts) if data.sweep else "—",
        "best_shifts_alpha": f"{best['avg_shifts'][0]:g}" if "avg_shifts" in best else "—",
        "best_reference_alpha": f"{best['reference'][0]:g}" if "reference" in best else "—",
        "alpha": f"{state.alpha:g}",
        "weights_ms": _num(costs and costs.weights_ms), "outputs_ms": _num(costs and costs.outputs_ms),
        "merge_ms": _num(costs and costs.merge_ms), "ratio": _num(costs and costs.ratio),
        "ratio_note": _ratio_note(costs, texts),
        "batch": str(costs.batch) if costs else "—",
        "device": texts.labels.get(f"device_{costs.device}", costs.device) if costs else "—",
        "params": f"{costs.params / 1e6:.2f} {texts.labels['million']}" if costs else "—",
        "lc_gap": _num(gap, 2), "alpha_min": f"{min(alphas):g}", "alpha_max": f"{max(alphas):g}",
        **(soup_values(texts) if any(s.id == "soups" for s in texts.steps) else {}),
    }


def build_slide(step: int, data: TalkData, texts: Texts, state: TalkState = TalkState()) -> Slide:
    """Slide number ``step`` (1-based) in the language of ``texts``; a teacher's added step is text only."""
    step = clamp_step(step, len(texts.steps))
    words = texts.steps[step - 1]
    values = _values(data, state, texts)
    body = [line.format_map(values) for line in words.body]
    slide = Slide(step=step, id=words.id, title=words.title, text_html=html_text.to_html(body),
                  notes_html=notes_for(step, texts)[1])
    BUILDERS.get(words.id, _text_only)(slide, data, texts, state)
    return slide


def build_talk(data: TalkData, texts: Texts, state: TalkState = TalkState()) -> list[Slide]:
    return [build_slide(i, data, texts, state) for i in range(1, len(texts.steps) + 1)]


def notes_for(step: int, texts: Texts) -> tuple[str, str, str | None]:
    """(title, notes as HTML, next step's title or None) for the speaker-notes view; needs no numbers."""
    step = clamp_step(step, len(texts.steps))
    words = texts.steps[step - 1]
    following = texts.steps[step].title if step < len(texts.steps) else None
    return words.title, html_text.to_html([f"- {n}" for n in words.notes]), following
