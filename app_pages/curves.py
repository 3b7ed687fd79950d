"""Curves: reference accuracy against robustness for every alpha, from the paper, the demo sweep or your CSV."""

import csv
import io

import streamlit as st

from app_pages.lang import names_for, plot_labels, t
from app_pages.shared import admitted, current_alpha
from wiseft_core.demo.assets import DEMO_SWEEP
from wiseft_core.errors import WiseftError
from wiseft_core.evaluate.curve_rows import paper_curve_rows, shift_columns, sweep_curve_rows
from wiseft_core.evaluate.results import SWEEP_COLUMNS
from wiseft_core.plots.curves import PNG_EXPORT_CONFIG, accuracy_curves_figure
from wiseft_core.serve import uploads
from wiseft_core.serve.file_stamps import file_stamp
from wiseft_core.serve.markup import escape_markdown

AVERAGE = "avg_shifts"
SOURCE_LABELS = {"paper": "curves.source.paper", "demo": "curves.source.demo"}  # keys in assets/i18n
TRANSLATED_COLUMNS = ("source", "model", "finetuning", "ensemble", "alpha", "reference", "avg_shifts", "avg_ref_shifts",
                      "seed")  # keys curves.col.<column>; the other columns are shifts, named by their distribution
TRANSLATED_VALUES = ("source", "model", "finetuning", "ensemble")


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


def shown_row(row: dict, labels) -> dict:
    """A summary row as the page shows it: columns and names in the viewer's words (the CSV keeps the file's)."""
    shown = {}
    for key, value in row.items():
        if isinstance(value, float):
            value = round(value, 2)
        elif key in TRANSLATED_VALUES:
            value = labels.name(value)
        shown[t(f"curves.col.{key}") if key in TRANSLATED_COLUMNS else labels.name(key)] = value
    return shown


def figure_png(figure) -> bytes:
    """PNG for slides via kaleido, which drives a headless Chromium; made only when the button is clicked.

    Where no Chromium is installed this fails, and the chart's own camera button (client-side) remains.
    """
    return figure.to_image(format="png", width=1280, height=720, scale=2)


def soups_cloud() -> None:
    """The 72 published ViT-B/32 fine-tunes and their soups, beside the demo's fine-tunes, soups and curves."""
    from wiseft_core.demo.assets import DEMO_DIR
    from wiseft_core.demo.soup_results import demo_soup_curves, read_results_csv
    from wiseft_core.demo.soups import RESULTS_CSV, SUBDIR, SWEEP_CSV
    from wiseft_core.evaluate.published_soups import load_published_soups
    from wiseft_core.plots.soups import soup_cloud_figure

    soups = DEMO_DIR / SUBDIR
    try:
        published = load_published_soups()
        demo = read_results_csv(soups / RESULTS_CSV) if (soups / RESULTS_CSV).is_file() else []
        curves = demo_soup_curves(soups / SWEEP_CSV, DEMO_SWEEP) if demo and (soups / SWEEP_CSV).is_file() else []
    except WiseftError as err:
        st.warning(escape_markdown(str(err)))
        return
    st.plotly_chart(soup_cloud_figure(published, demo, curves, plot_labels()), key="curves_soups_chart")
    st.caption(t("curves.soups_caption"))


st.title(t("curves.title"))
st.caption(t("curves.intro"))

sources: dict[str, list[dict]] = {"paper": paper_rows()}  # keys are the rows' "source" tags
if DEMO_SWEEP.is_file():
    try:
        sources["demo"] = demo_rows(file_stamp(DEMO_SWEEP))
    except WiseftError as err:
        st.warning(escape_markdown(t("curves.demo_unreadable", error=err)))
sweep_upload = st.file_uploader(t("curves.upload"), type=["csv"], key="curves_upload",
                                max_upload_size=uploads.SWEEP_CSV.max_file_bytes // uploads.MB,
                                help=t("curves.upload_help", columns=",".join(SWEEP_COLUMNS)))
for upload in admitted(sweep_upload, uploads.SWEEP_CSV):  # the size is checked on the server too
    try:
        sources[f"upload: {upload.name}"] = upload_rows(upload.getvalue(), upload.name)
    except WiseftError as err:
        st.error(escape_markdown(err))

names = list(sources)
default_sources = [n for n in names if n.startswith("upload")] or (
    ["demo"] if "demo" in sources else names[:1])
chosen = sticky_multiselect(st, t("curves.sources"), names, default_sources, "curves_sources",
                            format_func=names_for(names, lambda n: t(SOURCE_LABELS[n]) if n in SOURCE_LABELS else n))
rows = [row for name in chosen for row in sources[name]]
if not rows:
    st.info(t("curves.choose_source"))
    st.stop()

labels = plot_labels()  # the paper's model notes and the demo's distributions in the viewer's words
c1, c2, c3 = st.columns(3)
models = sorted({r["model"] for r in rows})
default_models = ["CLIP ViT-L/14@336px"] if "CLIP ViT-L/14@336px" in models and len(chosen) == 1 else models
picked_models = sticky_multiselect(c1, t("curves.model"), models, default_models, "curves_models",
                                   format_func=labels.name)
finetunings = sorted({r["finetuning"] for r in rows})
picked_ft = sticky_multiselect(c2, t("curves.finetuning"), finetunings, finetunings, "curves_ft",
                               format_func=labels.name)
ensembles = sorted({r["ensemble"] for r in rows})
picked_ens = sticky_multiselect(c3, t("common.ensemble"), ensembles, ensembles, "curves_ens",
                                help=t("curves.ensemble_help"), format_func=labels.name)
rows = [r for r in rows if r["model"] in picked_models and r["finetuning"] in picked_ft and r["ensemble"] in picked_ens]

c4, c5, c6 = st.columns(3)
shifts = shift_columns(rows)
y = c4.selectbox(t("curves.shift"), [AVERAGE, *shifts], key="curves_shift",
                 format_func=names_for([AVERAGE, *shifts],
                                       lambda s: t("curves.average") if s == AVERAGE else labels.name(s)))
logit = c5.radio(t("curves.axes"), ["linear", "logit"], horizontal=True, key="curves_axes",
                 format_func=names_for(["linear", "logit"], lambda a: t(f"curves.axes.{a}"))) == "logit"
chord = c6.toggle(t("curves.chord"), value=True, key="curves_chord")

alpha = current_alpha()
figure = accuracy_curves_figure(
    rows, y,  # the figure shows names from the file literally
    y_label=t("curves.y_average") if y == AVERAGE else t("curves.y_shift", shift=labels.name(y)),
    current_alpha=alpha, logit_axes=logit, endpoint_line=chord, labels=labels)
if not figure.data:
    st.warning(t("curves.nothing"))
else:
    st.plotly_chart(figure, config=PNG_EXPORT_CONFIG, key="curves_chart")
    where = "" if 0.0 <= alpha <= 1.0 else t("curves.outside")
    st.caption(t("curves.star", alpha=f"{alpha:.2f}", where=where))

if st.toggle(t("curves.soups_toggle"), key="curves_soups"):
    soups_cloud()

st.dataframe([shown_row(row, labels) for row in rows], hide_index=True, width="stretch")
buffer = io.StringIO()
fieldnames = list(dict.fromkeys(k for r in rows for k in r))
writer = csv.DictWriter(buffer, fieldnames=fieldnames)
writer.writeheader()
writer.writerows(rows)
d1, d2 = st.columns(2)
d1.download_button(t("curves.download_csv"), buffer.getvalue(), file_name="wiseft_curves.csv", mime="text/csv")
if figure.data:
    d2.download_button(t("curves.download_png"), lambda: figure_png(figure),
                       file_name="wiseft_curves.png", mime="image/png", key="curves_png")
