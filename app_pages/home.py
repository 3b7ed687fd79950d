"""Home: the idea of WiSE-FT in a few paragraphs, the paper's headline numbers and curve, links onward."""

import streamlit as st

from app_pages.shared import current_alpha
from wiseft_core.evaluate.curve_rows import paper_curve_rows
from wiseft_core.evaluate.results import PAPER_HEADLINE_COLUMNS, PAPER_SHIFT_LABELS, load_paper_summary
from wiseft_core.plots.curves import PNG_EXPORT_CONFIG, accuracy_curves_figure

HEADLINE_MODEL = "CLIP ViT-L/14@336px"
HEADLINE_ROWS = {
    "Zero-shot (PyTorch)": "Zero-shot",
    "Fine-tuned E2E (ours)": "Fine-tuned (end-to-end)",
    "WiSE-FT E2E, α=0.5": "WiSE-FT, α = 0.5",
    "WiSE-FT E2E, optimal α": "WiSE-FT, optimal α",
}

st.title("WiSE-FT Explorer")
text, picture = st.columns([1, 1])
text.markdown(
    """
Fine-tuning a zero-shot model such as CLIP on a reference dataset (ImageNet) **raises its accuracy there
but lowers its robustness**: on distribution shifts — ImageNetV2, -R, -Sketch, ObjectNet, -A — the
fine-tuned model often does *worse* than the zero-shot model it started from.

**WiSE-FT** (weight-space ensembling for fine-tuning) simply interpolates the two sets of weights:

$$\\theta(\\alpha) = (1-\\alpha)\\,\\theta_{\\text{zero-shot}} + \\alpha\\,\\theta_{\\text{fine-tuned}}$$

Because the result is one model of the same architecture, it costs **nothing extra at inference**.
In the paper a middle value, **α ≈ 0.5**, keeps nearly all of the fine-tuning gain on the reference
and beats *both* endpoints on the shifts: the curve on the right bends above the straight line between
the two models.
"""
)
with picture:
    rows = [r for r in paper_curve_rows() if r["model"] == HEADLINE_MODEL and r["finetuning"] == "end-to-end"]
    figure = accuracy_curves_figure(
        rows, "avg_shifts", x_label="ImageNet accuracy (%)", y_label="Avg accuracy on 5 shifts (%)",
        group_keys=("model", "finetuning"), current_alpha=current_alpha(),
        title="Accuracy vs robustness, one point per α (paper, Table 4)")
    st.plotly_chart(figure, config=PNG_EXPORT_CONFIG, key="home_curve")
    st.caption("Square: zero-shot (α = 0); triangle: fine-tuned (α = 1); dashed: the straight line between "
               "them; star: the α currently set in the Playground.")

st.subheader("The paper's headline: CLIP ViT-L/14@336px (Table 1)")
summary = {row["row"]: row for row in load_paper_summary() if row["table"] == "Table 1"}
columns = PAPER_HEADLINE_COLUMNS
table = [
    {"": label, **{PAPER_SHIFT_LABELS.get(c, "Avg shifts"): float(summary[row][c]) for c in columns}}
    for row, label in HEADLINE_ROWS.items() if row in summary
]
st.dataframe(table, hide_index=True, width="stretch")
st.caption("Top-1 accuracy (%) on ImageNet and its five distribution shifts, as printed in Wortsman et al., "
           "*Robust fine-tuning of zero-shot models* (CVPR 2022, arXiv:2109.01903). Provenance: "
           "`assets/paper/README.md`.")

st.subheader("Explore")
c1, c2, c3 = st.columns(3)
c1.page_link("app_pages/playground.py", label="Playground: move α, watch predictions", icon=":material/tune:")
c2.page_link("app_pages/curves.py", label="Curves: accuracy vs robustness", icon=":material/show_chart:")
c3.page_link("app_pages/weights.py", label="Weights: what fine-tuning changed", icon=":material/balance:")
