"""The Playground's live alpha slider: a Streamlit Components v2 element (inline HTML/CSS/JS, no iframe).

Python computes the numbers (real interpolated weights, grid rows and the session's exact answer)
and this element draws them in the browser as the thumb moves, so a slider step costs one frame,
not a round trip and a page rebuild. ``live_slider.js`` says what it draws from which numbers.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app_pages.lang import t

HERE = Path(__file__).resolve().parent
_component = st.components.v2.component(
    "wiseft_live_slider",
    css=(HERE / "live_slider.css").read_text(),
    js=(HERE / "live_slider.js").read_text(),
    isolate_styles=False,  # in the page's DOM, so tests and screen readers see the text
)


def live_slider(data: dict, alpha: float, key: str, on_change, poll_seconds: float) -> None:
    """Mount the slider with ``data`` (``wiseft_core.serve.slider_data``); ``on_change`` runs when a viewer releases it.

    While ``data["pending"]`` the element asks for a rerun ``poll_seconds`` after each answer it receives
    (its enclosing fragment reruns), so the charts fill in without a server-side timer.
    """
    payload = [{**data, "poll_ms": round(poll_seconds * 1000)}]  # a list: Streamlit scans a dict's values for
    # dataframes (importing pandas, ~0.7 s, on a process's first mount: inside a viewer's first answer)
    _component(key=key, data=payload, default={"alpha": alpha}, on_alpha_change=on_change,
               on_poll_change=lambda: None)


def slider_texts() -> dict[str, str]:
    """The slider's words in the viewer's language (the browser fills in ``{alpha}``, ``{done}``…)."""
    return {name: t(f"slider.{name}") for name in ("label", "prediction", "true_label", "computing", "zero", "one",
                                                   "chart", "loading")}
