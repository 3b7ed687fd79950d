"""WiSE-FT Explorer: the Streamlit entry point (navigation and the shared sidebar).

Run ``streamlit run app.py`` (the demo pair), or preselect a pair for a talk:
``streamlit run app.py -- --zeroshot zs.safetensors --finetuned ft.safetensors [--device cuda] [--threads N]``.
Operator-only options (``wiseft_core.serve.app_launch``): ``--models-dir DIR`` (the checkpoints viewers may pick),
``--trust-pickle``, ``--live-models N``. ``?page=playground&alpha=0.4`` in the URL opens a page at an alpha.
"""

from pathlib import Path

import streamlit as st
import torch

from app_pages.shared import LOG, PAGE_FAILED, launch_options, sidebar_pair
from wiseft_core.serve.app_launch import default_threads
from wiseft_core.serve.url_state import name_param

FAVICON = Path(__file__).resolve().parent / "assets" / "favicon.png"  # served by the app: no CDN in an offline room
st.set_page_config(page_title="WiSE-FT Explorer", page_icon=str(FAVICON), layout="wide")
torch.set_num_threads(launch_options().threads or default_threads())

PAGES = {
    "home": ("app_pages/home.py", "Home", ":material/home:"),
    "playground": ("app_pages/playground.py", "Playground", ":material/tune:"),
    "curves": ("app_pages/curves.py", "Curves", ":material/show_chart:"),
    "weights": ("app_pages/weights.py", "Weights", ":material/balance:"),
    "flips": ("app_pages/flips.py", "Flips", ":material/swap_horiz:"),
    "landscape": ("app_pages/landscape.py", "Landscape", ":material/landscape:"),
    "talk": ("app_pages/talk.py", "Talk", ":material/slideshow:"),
}

requested = name_param(st.query_params.get("page"), PAGES, "home")
navigation = st.navigation([
    st.Page(path, title=title, icon=icon, url_path=name, default=name == requested)
    for name, (path, title, icon) in PAGES.items()
])
st.session_state["_pair_context_now"] = sidebar_pair()
st.sidebar.caption("WiSE-FT: Wortsman et al., *Robust fine-tuning of zero-shot models*, CVPR 2022.")
try:
    navigation.run()
except Exception:  # a viewer gets one line (Streamlit's stop/rerun signals are not Exceptions and pass)
    LOG.exception("a page failed")
    st.error(PAGE_FAILED)
