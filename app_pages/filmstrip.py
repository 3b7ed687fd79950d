"""Page fragments the Playground calls in one line: the saliency filmstrip and images linked from Flips.

Not a page (nothing runs on import). ``filmstrip(context, samples, alpha)`` shows, behind a toggle, where
theta(alpha) looks in each image at alpha 0, 0.25, 0.5, 0.75, 1 and the current alpha; frames are
computed once per (pair, image, alpha) and shared by every session, like the Playground's grid.
``linked_images(classnames)`` turns ``?image=demo:sketch%2317`` links (from the Flips page) into
``(name, PNG bytes, true label)`` for the Playground's own decoder.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, contextmanager

import streamlit as st

from app_pages.lang import t
from wiseft_core.errors import WiseftError
from wiseft_core.inspection.flips import open_ref
from wiseft_core.serve import url_state
from wiseft_core.serve.markup import escape_markdown

FILM_ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)


def _png(image) -> bytes:
    handle = io.BytesIO()
    image.save(handle, format="PNG")
    return handle.getvalue()


@st.cache_data(show_spinner=False, max_entries=256)
def frames(pair_key: str, digest: str, alphas: tuple[float, ...], _interpolator, _image, _preprocessing,
           _classnames) -> list[tuple[bytes, str]]:
    """(overlay PNG, caption) per alpha; keyed by pair, image digest and alphas (the rest is excluded)."""
    from wiseft_core.inspection.saliency import explain, overlay

    explained = explain(_interpolator, [_image], _preprocessing, list(alphas))[0]
    return [(_png(overlay(_image, e, min_side=128)), f"α = {e.alpha:g}: {_classnames[e.predicted]} "
             f"({e.probability:.0%})") for e in explained]


@st.cache_resource(max_entries=2)
def _own_model(pair_key: str, _pair, device: str):
    """One live model per pair for the filmstrip when the caller lends none; a lock serialises its users."""
    return _pair.new_interpolator(device), threading.Lock()


def _own_lease(context) -> Callable[[], AbstractContextManager]:
    @contextmanager
    def lease():
        interpolator, lock = _own_model(context.key, context.pair, str(getattr(context, "device", "cpu")))
        with lock:
            yield interpolator

    return lease


def filmstrip(context, samples: Sequence, alpha: float,
              lease: Callable[[], AbstractContextManager] | None = None) -> None:
    """A toggle, then per sample (``.name``, ``.image``, ``.digest``) a row of saliency overlays.

    ``lease`` (e.g. the Playground's ``pool.lease``) lends a live model; without it the filmstrip keeps
    one of its own per pair. Frames are cached, so a model is only needed for an image seen first.
    """
    if not st.toggle(t("filmstrip.toggle"), key="filmstrip_on", help=t("filmstrip.help")):
        return
    lease = lease or _own_lease(context)
    pair = context.pair
    alphas = FILM_ALPHAS if round(alpha, 6) in FILM_ALPHAS else (*FILM_ALPHAS, round(alpha, 6))
    for sample in samples:
        with st.spinner(t("filmstrip.spinner", name=escape_markdown(sample.name))), lease() as interpolator:
            shown = frames(context.key, sample.digest, tuple(FILM_ALPHAS), interpolator, sample.image,
                           pair.preprocessing, pair.classnames)
            if len(alphas) > len(FILM_ALPHAS):
                shown = shown + frames(context.key, sample.digest, (alphas[-1],), interpolator, sample.image,
                                       pair.preprocessing, pair.classnames)
        st.caption(t("filmstrip.caption", name=escape_markdown(sample.name)))
        columns = st.columns(6)
        for column, (picture, caption), a in zip(columns, shown, alphas):  # captions name classes from the file
            column.image(picture, caption=("▶ " if a == round(alpha, 6) else "") + escape_markdown(caption),
                         width="stretch")


MAX_LINKED = 6  # the Playground shows at most six images


@st.cache_resource
def linked_specs() -> set[str]:
    """Datasets this server has computed flips on: the only non-demo datasets a link may open."""
    return set()


def linked_images(classnames: Sequence[str]) -> list[tuple[str, bytes, str | None]]:
    """Images named by ``?image=`` links (comma-separated ``<spec>#<index>``) as (name, PNG bytes, label)."""

    out = []
    refs, malformed = url_state.image_refs(st.query_params.get("image"), MAX_LINKED)  # a URL costs O(1)
    if malformed:
        st.warning(t("filmstrip.malformed", n=malformed))
    for spec, index in refs:
        ref = f"{spec}#{index}"
        try:
            image, label = open_ref(ref, tuple(linked_specs()))
        except WiseftError as err:
            st.warning(escape_markdown(err))
            continue
        out.append((ref, _png(image), classnames[label] if 0 <= label < len(classnames) else None))
    return out
