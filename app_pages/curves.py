"""Curves: reference accuracy against robustness for every alpha, from the paper, the demo sweep or your CSV."""

import csv
import io
from pathlib import Path

import streamlit as st

from app_pages.shared import current_alpha
from wiseft_core.demo.assets import DEMO_SWEEP
from wiseft_core.errors import WiseftError
from wiseft_core.evaluate.curve_rows import paper_curve_rows, shift_columns, sweep_curve_rows
from wiseft_core.evaluate.results import SWEEP_COLUMNS
from wiseft_core.plots.curves import PNG_EXPORT_CONFIG, accuracy_curves_figure
from wiseft_core.serve.markup import escape_markdown

AVERAGE = "avg_shifts"
SOURCE_LABELS = {"paper": "paper (Wortsman et al., CVPR 2022)", "demo": "demo world sweep (assets/demo/sweep.csv)"}


@st.cache_data(show_spinner=False)
def paper_rows() -> list[dict]:
    return paper_curve_rows()


@st.cache_data(show_spinner=False)
def demo_rows(stamp: tuple) -> list[dict]:
    """``stamp`` (the file's size and mtime) is part of the cache key, so a rewritten sweep is read again."""
    return sweep_curve_rows(DEMO_SWEEP, "demo")


@st.cache_data(show_spinner=False, max_entries=8)
def upload_rows(data: bytes, name: str) -> list[dict]:
    handle = io.BytesIO(data)
    handle.name = name  # so error messages name the user's file
    return sweep_curve_rows(handle, f"upload: {name}")


def sweep_stamp(path: Path) -> tuple[int, int]:
    """Changes whenever the file is rewritten (size or modification time), to key the cached rows."""
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def sticky_multiselect(container, label: str, options: list[str], default: list[str], key: str, **kwargs):
    """A multiselect whose newly appearing options join the selection (a new upload shows up at once)
    and whose vanished options leave it (a removed upload), instead of Streamlit keeping a stale state."""
    known_key = f"_{key}_known"
    if key in st.session_state:
        known = st.session_state.get(known_key, set(options))
        kept = [o for o in st.session_state[key] if o in options]
        st.session_state[key] = kept + [o for o in options if o not in known and o not in kept]
    st.session_state[known_key] = set(options)
    if key in st.session_state:
        return container.multiselect(label, options, key=key, **kwargs)
    return container.multiselect(label, options, default=default, key=key, **kwargs)


def figure_png(figure) -> bytes:
    """PNG for slides via kaleido, which drives a headless Chromium; made only when the button is clicked.

    Where no Chromium is installed this fails, and the chart's own camera button (client-side) remains.
    """
    return figure.to_image(format="png", width=1280, height=720, scale=2)


st.title("Accuracy vs robustness curves")
st.caption("One point per α: x = accuracy on the reference distribution, y = accuracy on a shift (or the average "
           "of shifts). α = 0 is the zero-shot model, α = 1 the fine-tuned one.")

sources: dict[str, list[dict]] = {"paper": paper_rows()}  # keys are the rows' "source" tags
if DEMO_SWEEP.is_file():
    try:
        sources["demo"] = demo_rows(sweep_stamp(DEMO_SWEEP))
    except WiseftError as err:
        st.warning(escape_markdown(f"The demo sweep could not be read: {err}"))
upload = st.file_uploader("Your own `wiseft sweep` CSV", type=["csv"], key="curves_upload", max_upload_size=20,
                          help="Columns: " + ",".join(SWEEP_COLUMNS))
if upload is not None:
    try:
        sources[f"upload: {upload.name}"] = upload_rows(upload.getvalue(), upload.name)
    except WiseftError as err:
        st.error(escape_markdown(err))

names = list(sources)
default_sources = [n for n in names if n.startswith("upload")] or (
    ["demo"] if "demo" in sources else names[:1])
chosen = sticky_multiselect(st, "Sources", names, default_sources, "curves_sources",
                            format_func=lambda n: SOURCE_LABELS.get(n, n))
rows = [row for name in chosen for row in sources[name]]
if not rows:
    st.info("Choose at least one source.")
    st.stop()

c1, c2, c3 = st.columns(3)
models = sorted({r["model"] for r in rows})
default_models = ["CLIP ViT-L/14@336px"] if "CLIP ViT-L/14@336px" in models and len(chosen) == 1 else models
picked_models = sticky_multiselect(c1, "Model", models, default_models, "curves_models")
finetunings = sorted({r["finetuning"] for r in rows})
picked_ft = sticky_multiselect(c2, "Fine-tuning", finetunings, finetunings, "curves_ft")
ensembles = sorted({r["ensemble"] for r in rows})
picked_ens = sticky_multiselect(c3, "Ensemble", ensembles, ensembles, "curves_ens",
                                help="weights = WiSE-FT (interpolated weights); outputs = mixing the two models' "
                                "logits. For a linear classifier the two coincide.")
rows = [r for r in rows if r["model"] in picked_models and r["finetuning"] in picked_ft and r["ensemble"] in picked_ens]

c4, c5, c6 = st.columns(3)
shifts = shift_columns(rows)
y = c4.selectbox("Shift (y axis)", [AVERAGE, *shifts], key="curves_shift",
                 format_func=lambda s: "Average of shifts" if s == AVERAGE else s)
logit = c5.radio("Axes", ["linear", "logit"], horizontal=True, key="curves_axes") == "logit"
chord = c6.toggle("Zero-shot → fine-tuned line", value=True, key="curves_chord")

alpha = current_alpha()
figure = accuracy_curves_figure(
    rows, y, x_label="Reference accuracy (%)",  # the figure shows names from the file literally
    y_label="Average shift accuracy (%)" if y == AVERAGE else f"{y} accuracy (%)",
    current_alpha=alpha, logit_axes=logit, endpoint_line=chord)
if not figure.data:
    st.warning("Nothing to plot for this selection.")
else:
    st.plotly_chart(figure, config=PNG_EXPORT_CONFIG, key="curves_chart")
    where = "" if 0.0 <= alpha <= 1.0 else " (outside the measured 0–1 range, so no star)"
    st.caption(f"★ marks α = {alpha:.2f}, the α set in the Playground{where}. The camera icon above the chart "
               "saves a 1280×720 PNG.")

table = [{k: (round(v, 2) if isinstance(v, float) else v) for k, v in r.items()} for r in rows]
st.dataframe(table, hide_index=True, width="stretch")
buffer = io.StringIO()
fieldnames = list(dict.fromkeys(k for r in rows for k in r))
writer = csv.DictWriter(buffer, fieldnames=fieldnames)
writer.writeheader()
writer.writerows(rows)
d1, d2 = st.columns(2)
d1.download_button("Download this table (CSV)", buffer.getvalue(), file_name="wiseft_curves.csv", mime="text/csv")
if figure.data:
    d2.download_button("Download the figure (PNG, 1280×720 @2x)", lambda: figure_png(figure),
                       file_name="wiseft_curves.png", mime="image/png", key="curves_png")
