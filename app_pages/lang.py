"""The viewer's language on every page: ``?lang=en|ru`` in the URL, the sidebar switch, ``t("key")``.

The URL is the one source: a link opens a page in its language, and ``keep_params`` puts the language
(and the talk's presenter and date) back into the URL after Streamlit drops the query on a page switch,
so Talk -> Playground -> Talk keeps all three. The words are ``wiseft_core.serve.i18n``'s JSON files.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import streamlit as st

from wiseft_core.plots.labels import PlotLabels
from wiseft_core.plots.translated_labels import plot_labels as labels_in
from wiseft_core.serve.i18n import LANG_NAMES, LANGS, pick_lang, translate

STICKY_PARAMS = ("lang", "presenter", "date")  # what a viewer chose once and expects on every page
_KEPT = "_kept_params"


def current_lang() -> str:
    return pick_lang(st.query_params.get("lang"))


def t(key: str, **fields: object) -> str:
    """The visible text ``key`` in the viewer's language."""
    return translate(current_lang(), key, **fields)


def plot_labels(lang: str | None = None) -> PlotLabels:
    """The figures' words in ``lang`` (default: the viewer's), the demo's distribution and class names included."""
    return _plot_labels(lang or current_lang())


@lru_cache(maxsize=len(LANGS))
def _plot_labels(lang: str) -> PlotLabels:  # read-only once built: every session of a language shares it
    return labels_in(lang)


def names_for(options, name_of: Callable[[object], str]) -> Callable[[object], str]:
    """A widget's ``format_func`` whose words are fixed when the widget is drawn (tests call it afterwards)."""
    names = {option: name_of(option) for option in options}
    return lambda option: names.get(option, str(option))


def keep_params() -> None:
    """Before a page runs: restore the sticky parameters a page switch dropped from the URL."""
    kept = st.session_state.get(_KEPT, {})
    for name in STICKY_PARAMS:
        if name not in st.query_params and kept.get(name):
            st.query_params[name] = kept[name]


def remember_params() -> None:
    """After a page ran (or stopped): what it left in the URL is what the next page switch restores."""
    st.session_state[_KEPT] = {name: st.query_params.get(name, "") for name in STICKY_PARAMS}


def _switch_language() -> None:
    st.query_params["lang"] = st.session_state["lang_switch"]
    st.session_state.pop("talk_lang", None)  # the talk's own switch follows the URL's language


def language_switch() -> None:
    """The sidebar's language radio; it follows the URL (a page's own switch may have changed it)."""
    st.session_state["lang_switch"] = current_lang()
    st.sidebar.radio(translate(current_lang(), "app.language"), LANGS, key="lang_switch", horizontal=True,
                     format_func=LANG_NAMES.get, on_change=_switch_language)
