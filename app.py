"""WiSE-FT Explorer: the Streamlit entry point (navigation and the shared sidebar).

Run ``streamlit run app.py`` (the demo pair), or preselect a pair for a talk:
``streamlit run app.py -- --zeroshot zs.safetensors --finetuned ft.safetensors [--device cuda] [--threads N]``.
Operator-only options (``wiseft_core.serve.app_launch``): ``--models-dir DIR`` (the checkpoints viewers may pick),
``--trust-pickle``, ``--live-models N``. ``?page=playground&alpha=0.4`` in the URL opens a page at an alpha.

The page is drawn before anything heavy is imported: a new server's first viewer sees the app's name and
a progress bar at once (the Playground: the demo pair's stored first answer), while PyTorch, open_clip and the
model pair load behind it.
"""

from pathlib import Path

import streamlit as st

from app_pages.lang import keep_params, language_switch, remember_params, t
from app_pages.warmup import heavy_ready, wait_heavy_imports
from wiseft_core.serve.url_state import name_param

FAVICON = Path(__file__).resolve().parent / "assets" / "favicon.png"  # served by the app: no CDN in an offline room
st.set_page_config(page_title="WiSE-FT Explorer", layout="wide")  # the icon after the first text: see below

PAGES = {  # name: (file, title's key in assets/i18n, icon)
    "home": ("app_pages/home.py", "app.nav.home", ":material/home:"),
    "playground": ("app_pages/playground.py", "app.nav.playground", ":material/tune:"),
    "curves": ("app_pages/curves.py", "app.nav.curves", ":material/show_chart:"),
    "weights": ("app_pages/weights.py", "app.nav.weights", ":material/balance:"),
    "flips": ("app_pages/flips.py", "app.nav.flips", ":material/swap_horiz:"),
    "landscape": ("app_pages/landscape.py", "app.nav.landscape", ":material/landscape:"),
    "soups": ("app_pages/soups.py", "app.nav.soups", ":material/blender:"),
    "talk": ("app_pages/talk.py", "app.nav.talk", ":material/slideshow:"),
    "audience": ("app_pages/audience.py", "app.nav.audience", ":material/groups:"),
}


def load_pair_context(progress, first_run: bool) -> object:
    """The heavy part of a run (PyTorch, open_clip, the pair), behind a progress bar on a new server's first run."""
    if first_run:
        wait_heavy_imports()
    import torch

    from app_pages.shared import launch_options, sidebar_pair
    from wiseft_core.serve.app_launch import default_threads

    torch.set_num_threads(launch_options().threads or default_threads())
    if first_run:
        progress.progress(0.6, text=t("app.loading_pair"))
    return sidebar_pair()


keep_params()
loading = st.empty()  # the first text a new server's viewer sees; the page replaces it
first_run = not heavy_ready()  # later runs find it all imported: no bar flashing by
if first_run:
    loading.progress(0.1, text=t("app.loading_torch"))
# A file icon imports Pillow: after a new server's first text, but before the navigation, whose page icons
# would otherwise be fetched from the web as the tab's icon.
st.set_page_config(page_icon=str(FAVICON))
requested = name_param(st.query_params.get("page"), PAGES, "home")
navigation = st.navigation([
    st.Page(path, title=t(title), icon=icon, url_path=name, default=name == requested)
    for name, (path, title, icon) in PAGES.items()
])
if navigation.url_path != "talk":  # the talk has its own language switch
    language_switch()
preview = st.empty()
if first_run and navigation.url_path == "playground":  # its stored first answer while PyTorch loads
    from app_pages.preview import playground_preview  # only this visit pays for the slider element

    with preview.container():
        playground_preview()
st.session_state["_pair_context_now"] = load_pair_context(loading, first_run)
loading.empty()
preview.empty()
st.sidebar.caption(t("app.citation"))
try:
    navigation.run()
except Exception:  # a viewer gets one line (Streamlit's stop/rerun signals are not Exceptions and pass)
    from app_pages.shared import LOG

    LOG.exception("a page failed")
    st.error(t("app.page_failed"))
finally:  # also when a page stops early: what it left in the URL is kept for the next page
    remember_params()
