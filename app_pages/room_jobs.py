"""Page glue for the room's job queue (``wiseft_core.serve.jobs``): start a session's job, show its place and progress.

Not a page. One queue per server process (``--job-workers N`` workers); each session has at most one
job. A job stops when its session ends: every check of its cancel token asks Streamlit whether the
session is still connected (a closed tab disconnects at once), and when Streamlit finally drops the
session's state a finalizer tells the queue, as the uploads do.
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Callable
from typing import Any

import streamlit as st

from app_pages.lang import current_lang, t
from app_pages.shared import launch_options, live_pool
from wiseft_core.serve.interpolator_pool import InterpolatorPool
from wiseft_core.serve.jobs import Job, JobQueue, JobRefused, describe, ordinal, with_grace
from wiseft_core.serve.markup import escape_markdown

POLL_S = 1.0
BY_VIEWER = "cancelled by you"
APP_BATCH = 32  # small batches: a viewer's job holds a live model for one batch at a time
APP_KEEP_BYTES = 256 << 20  # preprocessed images kept between alphas, per job
RECONNECT_GRACE_S = 15.0  # a phone's dropped websocket that comes back within this keeps its job


@st.cache_resource
def job_queue() -> JobQueue:
    """The server's one queue: ``--job-workers`` computations at a time, whatever the number of viewers."""
    return JobQueue(workers=launch_options().job_workers)


class _SessionJobs:
    """Lives in ``st.session_state``: when Streamlit drops the session, its job is cancelled and forgotten."""

    def __init__(self, queue: JobQueue) -> None:
        self.id = uuid.uuid4().hex
        weakref.finalize(self, queue.end_session, self.id)


def session_id() -> str:
    holder = st.session_state.get("_jobs")
    if holder is None:
        holder = st.session_state["_jobs"] = _SessionJobs(job_queue())
    return holder.id


def _connected() -> Callable[[], bool] | None:
    """Whether this browser session is still connected, or was a moment ago (None outside a served app)."""
    from streamlit.runtime import Runtime, exists
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None or not exists():
        return None
    runtime, streamlit_session = Runtime.instance(), ctx.session_id
    return with_grace(lambda: runtime.is_active_session(streamlit_session), RECONNECT_GRACE_S)


def shared_pool(context) -> InterpolatorPool:
    """The room's live models for the loaded pair (call it in the script thread, not in a job)."""
    return live_pool(context.key, context.pair, context.device)


def live_models(pool: InterpolatorPool, job: Job) -> Callable:
    """``pool``'s live models at a given alpha, leased per batch behind viewers' own answers.

    A cancelled job also stops waiting for one.
    """
    return lambda alpha: pool.at(alpha, background=True, stop=job.token.check)


def along_options(pool: InterpolatorPool, job: Job) -> dict:
    """What a served app passes to ``along_alpha``/``measure_path``: the shared models, the job's token, less cache."""
    return {"live": live_models(pool, job), "cancel": job.token, "keep_bytes": APP_KEEP_BYTES}


def current(kind: str) -> Job | None:
    """This session's job if it is one of ``kind`` (its key starts with ``kind``)."""
    job = job_queue().job(session_id())
    return job if job is not None and isinstance(job.key, tuple) and job.key[:1] == (kind,) else None


def start(kind: str, title: str, work: Callable[[Job], Any], key: tuple, keep: bool = True) -> Job | None:
    """Queue ``work`` as this session's job (replacing its previous one); None and one line if the room is full.

    ``key`` (after ``kind``) names what is computed: with ``keep`` the result is kept for every later
    session asking for the same thing.
    """
    try:
        return job_queue().submit(session_id(), title, work, key=(kind, *key), alive=_connected(), keep=keep)
    except JobRefused as err:
        st.error(escape_markdown(err))
        return None


def busy_elsewhere(kind: str) -> Job | None:
    """This session's unfinished job of another kind (so an automatic start does not replace a pressed one)."""
    job = job_queue().job(session_id())
    if job is None or job.finished or current(kind) is job:
        return None
    return job


def progress_panel(job: Job, key: str) -> None:
    """Place in line or progress, polled every second; the whole page reruns once the job has finished."""

    @st.fragment(run_every=POLL_S)
    def panel() -> None:
        if job.finished:
            st.rerun()
        queue = job_queue()
        place = queue.position(job)
        ranked = ordinal(place) if current_lang() == "en" else str(place)  # "3rd"; Russian writes "3-й"
        text = t("jobs.busy", place=ranked, title=job.title) if place else describe(job, place)
        st.progress(0.0 if place else job.fraction, text=escape_markdown(text))
        if st.button(t("jobs.cancel"), key=f"{key}_cancel"):
            queue.cancel(job.session, BY_VIEWER)
            st.rerun()

    panel()


def outcome(job: Job | None) -> Any:
    """The finished job's result (None while it runs); a failed or cancelled one says why in one line."""
    if job is None or not job.finished:
        return None
    if job.error is not None:
        (st.info if job.state == "cancelled" else st.error)(escape_markdown(describe(job, 0)))
    return job.result


def pair_job(kind: str, title: str, submitted: bool, make_work: Callable[[], Callable[[Job], Any]], key: tuple,
             pair_key: str) -> Any:
    """A page's job on the loaded pair: started on submit, its line/progress shown, its result once done.

    ``make_work`` is called only on submit (it captures the pool and the viewer's language then).
    """
    job = current(kind)
    if submitted:
        job = start(kind, title, make_work(), key)
    if job is None or job.key[1] != pair_key:
        return None
    if not job.finished:
        progress_panel(job, f"{kind}_job")
    return outcome(job)
