"""Page fragments the Playground calls in one line: the saliency filmstrip and images linked from Flips.

Not a page (nothing runs on import). ``filmstrip(context, samples, alpha)`` shows, behind a toggle, where
theta(alpha) looks in each image at alpha 0, 0.25, 0.5, 0.75, 1 and the current alpha; frames are
computed once per (pair, image, alpha) and shared by every session, like the Playground's grid.
``linked_images(classnames)`` turns ``?image=demo:sketch%2317`` links (from the Flips page) into
``(name, PNG bytes, true label)`` for the Playground's own decoder.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import streamlit as st

from app_pages import room_jobs
from app_pages.lang import current_lang, plot_labels, t
from app_pages.room_jobs import BY_VIEWER
from app_pages.shared import launch_options
from wiseft_core.errors import WiseftError
from wiseft_core.inspection.flips import open_ref
from wiseft_core.serve import app_launch, url_state
from wiseft_core.serve.i18n import translate
from wiseft_core.serve.jobs import CANCELLED, Kept
from wiseft_core.serve.markup import escape_markdown

FILM_ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)
FRAMES_KEPT = 1024  # overlay PNGs of a few tens of kB each


def _png(image) -> bytes:
    handle = io.BytesIO()
    image.save(handle, format="PNG")
    return handle.getvalue()


@st.cache_resource
def frame_store() -> Kept:
    """Overlays shared by every session, per (pair, image digest, alpha): a frame is computed once."""
    return Kept(FRAMES_KEPT)


def frames_work(context, needed: dict[float, list], store: Kept):
    """The job computing the missing frames: one lease of a shared live model and one batch per alpha."""
    from wiseft_core.inspection.saliency import explain_along, overlay

    pair = context.pair
    pool = room_jobs.shared_pool(context)
    lang = current_lang()  # the worker thread has no session: its words are fixed here

    def work(job) -> dict:
        made = {}
        for k, (alpha, samples) in enumerate(needed.items()):
            job.report(k / len(needed), translate(lang, "filmstrip.job", alpha=f"{alpha:g}"))
            explained = explain_along(room_jobs.live_models(pool, job), [s.image for s in samples],
                                      pair.preprocessing, [alpha], cancel=job.token)
            for sample, (e,) in zip(samples, explained, strict=True):
                said = (e.alpha, pair.classnames[e.predicted], e.probability)  # shared by every viewer: no words yet
                made[(context.key, sample.digest, alpha)] = (_png(overlay(sample.image, e, min_side=128)), said)
        for key, frame in made.items():
            store.put(key, frame)
        return made

    return work


def _missing_frames(context, samples: Sequence, alphas: tuple[float, ...], have: dict) -> dict[float, list]:
    needed: dict[float, list] = {}
    for a in alphas:
        for sample in samples:
            if (context.key, sample.digest, a) not in have:
                needed.setdefault(a, []).append(sample)
    return needed


def filmstrip(context, samples: Sequence, alpha: float) -> None:
    """A toggle, then per sample (``.name``, ``.image``, ``.digest``) a row of saliency overlays.

    Missing frames are computed by this session's job in the room's queue, on the shared pool's live
    models; the row shows the place in line and the progress meanwhile.
    """
    if not st.toggle(t("filmstrip.toggle"), key="filmstrip_on", help=t("filmstrip.help")):
        return
    alphas = FILM_ALPHAS if round(alpha, 6) in FILM_ALPHAS else (*FILM_ALPHAS, round(alpha, 6))
    store = frame_store()
    have = {(context.key, s.digest, a): store.get((context.key, s.digest, a)) for s in samples for a in alphas}
    have = {key: frame for key, frame in have.items() if frame is not None}
    needed = _missing_frames(context, samples, alphas, have)
    if needed and not _frames_job(context, samples, alphas, needed, have):
        return
    shown = plot_labels().name  # the demo's class names in the viewer's words; a model's own as they are
    for sample in samples:
        st.caption(t("filmstrip.caption", name=escape_markdown(sample.name)))
        columns = st.columns(6)
        for column, a in zip(columns, alphas):  # captions name classes from the file
            picture, (at, predicted, probability) = have[(context.key, sample.digest, a)]
            caption = f"α = {at:g}: {shown(predicted)} ({probability:.0%})"
            column.image(picture, caption=("▶ " if a == round(alpha, 6) else "") + escape_markdown(caption),
                         width="stretch")


def _frames_job(context, samples: Sequence, alphas: tuple, needed: dict, have: dict) -> bool:
    """Start or follow the job for the missing frames; True once ``have`` holds them all."""
    other = room_jobs.busy_elsewhere("filmstrip")
    if other is not None:
        st.caption(f"The saliency maps start once your {other.title.lower()} computation has finished.")
        room_jobs.progress_panel(other, "filmstrip_wait")  # reruns the page when it has
        return False
    wanted = (context.key, tuple(s.digest for s in samples), alphas)
    job = room_jobs.current("filmstrip")
    stale = job is not None and job.state == CANCELLED and job.error != BY_VIEWER  # e.g. replaced, not refused
    if job is None or job.key[1:] != wanted or stale:
        job = room_jobs.start("filmstrip", t("filmstrip.toggle"), frames_work(context, needed, frame_store()), wanted,
                              keep=False)
    if job is None:
        return False
    if not job.finished:
        room_jobs.progress_panel(job, "filmstrip_job")
        return False
    made = room_jobs.outcome(job) or {}
    have.update(made)
    return not _missing_frames(context, samples, alphas, have)


MAX_LINKED = 6  # the Playground shows at most six images


def linkable_specs() -> tuple[str, ...]:
    """Datasets a link may open: the ones the operator offers viewers (demo world and ``--data-dir``)."""
    return tuple(app_launch.dataset_choices(launch_options()).values())


def linked_images(classnames: Sequence[str]) -> list[tuple[str, bytes, str | None]]:
    """Images named by ``?image=`` links (comma-separated ``<spec>#<index>``) as (name, PNG bytes, label)."""

    out = []
    refs, malformed = url_state.image_refs(st.query_params.get("image"), MAX_LINKED)  # a URL costs O(1)
    if malformed:
        st.warning(t("filmstrip.malformed", n=malformed))
    for spec, index in refs:
        ref = f"{spec}#{index}"
        try:
            image, label = open_ref(ref, linkable_specs())
        except WiseftError as err:
            st.warning(escape_markdown(err))
            continue
        out.append((ref, _png(image), classnames[label] if 0 <= label < len(classnames) else None))
    return out
