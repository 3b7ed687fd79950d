"""Weights: what fine-tuning changed, block by block (relative change and cosine similarity)."""

import streamlit as st

from app_pages.lang import plot_labels, t
from wiseft_core.inspection.weight_diff import weight_diff
from wiseft_core.plots.curves import weight_diff_figure


@st.cache_data(show_spinner=False, max_entries=8)
def diffs_for(pair_key: str, _pair) -> list:
    return weight_diff(_pair.zeroshot.model.state_dict(), _pair.finetuned.model.state_dict())


st.title(t("weights.title"))
context = st.session_state.get("_pair_context_now")
if context is None:
    st.info(t("common.no_pair"))
    st.stop()
with st.spinner(t("weights.spinner")):  # a cached spinner's text would be fixed in one language
    diffs = diffs_for(context.key, context.pair)
st.caption(t("weights.intro"))
tower = [d for d in diffs if d.block != "head"]
head = next((d for d in diffs if d.block == "head"), None)
if tower and all(d.rel_change == 0.0 for d in tower):
    st.success(t("weights.head_only"))
if head is not None:
    c1, c2, c3 = st.columns(3)
    c1.metric(t("weights.head_change"), f"{head.rel_change:.4f}")
    c2.metric(t("weights.head_cosine"), f"{head.cosine:.4f}")
    c3.metric(t("weights.head_params"), f"{head.numel:,}")
st.plotly_chart(weight_diff_figure(diffs, plot_labels()), key="weights_chart")
moved = sorted(tower, key=lambda d: d.rel_change, reverse=True)[:5]
st.subheader(t("weights.most"))
st.dataframe([{t("weights.col.block"): d.block, t("weights.col.change"): round(d.rel_change, 5),
               t("weights.col.cosine"): round(d.cosine, 5), t("weights.col.params"): d.numel} for d in moved],
             hide_index=True)
with st.expander(t("weights.all")):
    st.dataframe([d.to_dict() for d in diffs], hide_index=True)
