"""The Playground on a new server's first run: the demo pair's stored first answer while PyTorch loads.

Only for the visit it was computed for (the demo pair, a first visit's gallery pick, an alpha on the
grid, weight space); its slider is disabled until the live page replaces it.
"""

from __future__ import annotations

import sys

import streamlit as st

from app_pages.lang import t
from app_pages.live_slider import live_slider, slider_texts
from wiseft_core.demo.playground_preview import preview_payload
from wiseft_core.engine.alphas import DEFAULT_ALPHA
from wiseft_core.serve import url_state
from wiseft_core.serve.app_launch import parse_launch_args


def playground_preview() -> bool:
    """Draw the stored first answer if it applies to this visit; True when drawn."""
    options = parse_launch_args(sys.argv[1:])
    if options.zeroshot or options.finetuned or st.session_state.get("pair_source", "demo") != "demo":
        return False
    if st.query_params.get("image"):  # linked images are not in the stored pick
        return False
    alpha = url_state.alpha_param(st.query_params.get("alpha"), DEFAULT_ALPHA)
    payload = preview_payload(alpha, st.query_params.get("sample"))
    if payload is None:
        return False
    st.title(t("playground.title"))
    st.caption(t("playground.formula"))
    live_slider({**payload, "text": slider_texts()}, alpha, key="live_alpha_preview", on_change=lambda: None,
                poll_seconds=1.0)
    return True
