"""The Playground on a new server's first run: the demo pair's stored first answer while PyTorch loads.

Only for the visit it was computed for (the demo pair, a first visit's gallery pick, an alpha on the
grid, weight space); its slider is disabled until the live page replaces it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import streamlit as st

from app_pages.lang import plot_labels, t
from app_pages.live_slider import live_slider, slider_texts
from wiseft_core.demo.playground_preview import preview_payload
from wiseft_core.engine.alphas import DEFAULT_ALPHA
from wiseft_core.serve import url_state
from wiseft_core.serve.app_launch import parse_launch_args


def in_viewer_words(payload: dict, shown: Callable[[str], str]) -> dict:
    """The stored payload (the demo's names in English) with its class and distribution names ``shown`` in the
    viewer's language, as the live page sends them; an image's name is ``GallerySample.display_name``."""
    images = [{**image, "name": ": ".join(shown(part) for part in image["name"].split(": ", 1)),
               "label_name": image.get("label_name") and shown(image["label_name"])} for image in payload["images"]]
    return {**payload, "images": images, "classnames": {k: shown(v) for k, v in payload["classnames"].items()}}


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
    shown = in_viewer_words(payload, plot_labels().name)
    live_slider({**shown, "text": slider_texts()}, alpha, key="live_alpha_preview", on_change=lambda: None,
                poll_seconds=1.0)
    return True
