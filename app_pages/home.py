"""Home: the idea of WiSE-FT in a few paragraphs, the paper's headline numbers and curve, links onward."""

import streamlit as st

from app_pages.lang import plot_labels, t
from app_pages.shared import current_alpha
from wiseft_core.evaluate.curve_rows import paper_curve_rows
from wiseft_core.evaluate.results import PAPER_HEADLINE_COLUMNS, PAPER_SHIFT_LABELS, load_paper_summary
from wiseft_core.plots.curves import PNG_EXPORT_CONFIG, accuracy_curves_figure

HEADLINE_MODEL = "CLIP ViT-L/14@336px"
HEADLINE_ROWS = {  # the paper's row: its label's key in assets/i18n
    "Zero-shot (PyTorch)": "home.row.zeroshot",
    "Fine-tuned E2E (ours)": "home.row.finetuned",
    "WiSE-FT E2E, α=0.5": "home.row.wiseft_half",
    "WiSE-FT E2E, optimal α": "home.row.wiseft_opt",
}

st.title(t("home.title"))
text, picture = st.columns([1, 1])
text.markdown(t("home.intro"))
with picture:
    rows = [r for r in paper_curve_rows() if r["model"] == HEADLINE_MODEL and r["finetuning"] == "end-to-end"]
    figure = accuracy_curves_figure(
        rows, "avg_shifts", x_label=t("home.x_label"), y_label=t("home.y_label"),
        group_keys=("model", "finetuning"), current_alpha=current_alpha(),
        title=t("home.figure_title"), labels=plot_labels())
    st.plotly_chart(figure, config=PNG_EXPORT_CONFIG, key="home_curve")
    st.caption(t("home.figure_caption"))

st.subheader(t("home.headline"))
summary = {row["row"]: row for row in load_paper_summary() if row["table"] == "Table 1"}
columns = PAPER_HEADLINE_COLUMNS
table = [
    {"": t(label), **{PAPER_SHIFT_LABELS.get(c, t("home.avg_shifts")): float(summary[row][c]) for c in columns}}
    for row, label in HEADLINE_ROWS.items() if row in summary
]
st.dataframe(table, hide_index=True, width="stretch")
st.caption(t("home.table_caption"))

st.subheader(t("home.explore"))
c1, c2, c3 = st.columns(3)
c1.page_link("app_pages/playground.py", label=t("home.link.playground"), icon=":material/tune:")
c2.page_link("app_pages/curves.py", label=t("home.link.curves"), icon=":material/show_chart:")
c3.page_link("app_pages/weights.py", label=t("home.link.weights"), icon=":material/balance:")
