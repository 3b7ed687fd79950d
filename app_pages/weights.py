"""Weights: what fine-tuning changed, block by block (relative change and cosine similarity)."""

import streamlit as st

from wiseft_core.inspection.weight_diff import weight_diff
from wiseft_core.plots.curves import weight_diff_figure


@st.cache_data(show_spinner="Comparing the two sets of weights…", max_entries=8)
def diffs_for(pair_key: str, _pair) -> list:
    return weight_diff(_pair.zeroshot.model.state_dict(), _pair.finetuned.model.state_dict())


st.title("What fine-tuning changed")
context = st.session_state.get("_pair_context_now")
if context is None:
    st.info("Load a model pair in the sidebar first.")
    st.stop()
diffs = diffs_for(context.key, context.pair)
st.caption("Per block: relative change ‖θ_ft − θ_zs‖ / ‖θ_zs‖ (0 = untouched) and cosine similarity between the "
           "zero-shot and fine-tuned weights (1 = same direction).")
tower = [d for d in diffs if d.block != "head"]
head = next((d for d in diffs if d.block == "head"), None)
if tower and all(d.rel_change == 0.0 for d in tower):
    st.success("Only the head differs: this is a linear-classifier fine-tune, so WiSE-FT here is exactly an "
               "ensemble of the two heads' outputs.")
if head is not None:
    c1, c2, c3 = st.columns(3)
    c1.metric("Head: relative change", f"{head.rel_change:.4f}")
    c2.metric("Head: cosine similarity", f"{head.cosine:.4f}")
    c3.metric("Head parameters", f"{head.numel:,}")
st.plotly_chart(weight_diff_figure(diffs), key="weights_chart")
moved = sorted(tower, key=lambda d: d.rel_change, reverse=True)[:5]
st.subheader("Blocks that changed most")
st.dataframe([{"block": d.block, "relative change": round(d.rel_change, 5), "cosine": round(d.cosine, 5),
               "parameters": d.numel} for d in moved], hide_index=True)
with st.expander("All blocks"):
    st.dataframe([d.to_dict() for d in diffs], hide_index=True)
