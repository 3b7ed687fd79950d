"""A bounded job queue for the computations a viewer can start, so a room cannot pile them up.

Flips, a landscape or a saliency filmstrip take seconds to minutes of CPU and a live model. Run in the
viewer's own script thread, ten viewers pressing the button run ten at once, each on its own model, and a
closed tab keeps computing. Here a fixed number of worker threads run them one after another, the queue
is bounded, a session has at most one job (a second press replaces the first), and every job carries a
:class:`CancelToken` that the computation checks between batches (and, through :func:`cancellable`,
between the layers of a forward), so a cancelled job, or one whose session has ended, stops promptly.
Pages read a job's state, progress and place in line; results of jobs with a ``key`` are kept (a few) and
handed to every later session that asks for the same thing. Nothing here imports Streamlit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from wiseft_core.errors import WiseftError

LOG = logging.getLogger("wiseft.jobs")
QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINISHED = (DONE, FAILED, CANCELLED)


class Cancelled(WiseftError):
    """Raised inside a computation whose job was cancelled; the message says why, in one line."""


class JobRefused(WiseftError):
    """A job the queue cannot take (the line is full); the message is for the viewer."""


class CancelToken:
    """Set once by whoever cancels; read by the computation at its own safe points (:meth:`check`)."""

    def __init__(self, alive: Callable[[], bool] | None = None) -> None:
        self._event = threading.Event()
        self._alive = alive  # e.g. "is the viewer's session still connected"
        self.reason = ""

    def cancel(self, reason: str = "cancelled") -> None:
        if not self._event.is_set():
            self.reason = reason
            self._event.set()

    @property
    def cancelled(self) -> bool:
        if not self._event.is_set() and self._alive is not None and not self._alive():
            self.cancel("the session ended")
        return self._event.is_set()

    def check(self) -> None:
        """Raise :class:`Cancelled` if the job was cancelled (or its session ended)."""
        if self.cancelled:
            raise Cancelled(self.reason)


def with_grace(alive: Callable[[], bool], grace_s: float,
               clock: Callable[[], float] = time.monotonic) -> Callable[[], bool]:
    """``alive``, but a disconnection counts only once it has lasted ``grace_s``.

    A phone that locks its screen or changes networks drops its websocket and reconnects to the same
    session a few seconds later; its job should still be there. A tab that is closed for good never
    comes back, and its job stops ``grace_s`` later (or at once when the session ends).
    """
    gone_since: list[float] = []

    def still_alive() -> bool:
        if alive():
            gone_since.clear()
            return True
        if not gone_since:
            gone_since.append(clock())
        return clock() - gone_since[0] < grace_s

    return still_alive


@contextmanager
def cancellable(model: nn.Module, token: CancelToken | None) -> Iterator[nn.Module]:
    """Check ``token`` before every submodule's forward, in this thread only, for the ``with`` block.

    A batch of a large model can take seconds; checking between layers lets a cancelled job stop within
    one layer. Other threads using the same (shared) model are not affected.
    """
    if token is None:
        yield model
        return
    ident = threading.get_ident()

    def hook(_module, _inputs) -> None:
        if threading.get_ident() == ident:
            token.check()

    handles = [module.register_forward_pre_hook(hook) for module in model.modules()]
    try:
        yield model
    finally:
        for handle in handles:
            handle.remove()


@dataclass
class Job:
    """One computation of one session: its state, progress and outcome, read by the page."""

    session: str
    title: str
    work: Callable[[Job], Any]
    key: Any = None
    keep: bool = True  # keep the result for later jobs with the same key
    token: CancelToken = field(default_factory=CancelToken)
    state: str = QUEUED
    fraction: float = 0.0
    text: str = ""
    result: Any = None
    error: str | None = None

    def report(self, fraction: float, text: str = "") -> None:
        """Progress for the page (0..1 and a short line); also a safe point to stop at."""
        self.fraction = min(1.0, max(0.0, float(fraction)))
        self.text = text
        self.token.check()

    @property
    def finished(self) -> bool:
        return self.state in FINISHED


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, 21st."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def describe(job: Job, place: int) -> str:
    """What a page says about a job, in one line (``place``: :meth:`JobQueue.position`)."""
    if job.state == QUEUED:
        return f"The room is busy: you are {ordinal(max(place, 1))} in line for {job.title}."
    if job.state == RUNNING:
        return f"{job.title}: {job.text or 'starting'}"
    if job.state == DONE:
        return f"{job.title}: done."
    return f"{job.title}: {job.error or job.state}"


class Kept:
    """A small thread-safe store of finished results, oldest dropped first (results shared by sessions)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
            return self._items.get(key)

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.limit:
                self._items.popitem(last=False)

    def __contains__(self, key: Any) -> bool:
        with self._lock:
            return key in self._items


class JobQueue:
    """``workers`` threads run queued jobs in order; at most ``max_waiting`` wait; one job per session."""

    def __init__(self, workers: int = 1, max_waiting: int = 32, results_kept: int = 8) -> None:
        if workers < 1:
            raise ValueError("a job queue needs at least one worker")
        self.workers = workers
        self.max_waiting = max_waiting
        self.results_kept = results_kept
        self._waiting: deque[Job] = deque()
        self._jobs: dict[str, Job] = {}  # each session's latest job
        self._results = Kept(results_kept)
        self._running = 0
        self._closed = False
        self._changed = threading.Condition()
        self._threads = [threading.Thread(target=self._serve, name=f"wiseft-job-{i}", daemon=True)
                         for i in range(workers)]
        for thread in self._threads:
            thread.start()

    @property
    def running(self) -> int:
        """Jobs being computed right now (never more than ``workers``)."""
        with self._changed:
            return self._running

    def submit(self, session: str, title: str, work: Callable[[Job], Any], key: Any = None,
               alive: Callable[[], bool] | None = None, keep: bool = True) -> Job:
        """Queue ``work(job)`` for ``session``, cancelling the session's unfinished job (a second press replaces it).

        ``key`` names what is computed; with ``keep`` the result is kept for later jobs with the same key,
        and a result kept from an earlier one is handed over at once.
        Raises :class:`JobRefused` when ``max_waiting`` jobs are already in line.
        """
        job = Job(session, title, work, key, keep, CancelToken(alive))
        with self._changed:
            previous = self._jobs.get(session)
            if previous is not None and not previous.finished:
                self._cancel(previous, "replaced by a newer request")
            self._prune()
            if keep and key is not None and key in self._results:
                self._finish(job, DONE, result=self._results.get(key))
            elif len(self._waiting) >= self.max_waiting:
                raise JobRefused(f"The room is full: {len(self._waiting)} computations are waiting; "
                                 "try again in a minute.")
            else:
                self._waiting.append(job)
            self._jobs[session] = job
            self._changed.notify_all()
        return job

    def job(self, session: str) -> Job | None:
        """The session's latest job (running, waiting or finished), or None."""
        with self._changed:
            return self._jobs.get(session)

    def position(self, job: Job) -> int:
        """1 for the next job to start, 2 for the one after...; 0 once it runs or has finished."""
        with self._changed:
            self._prune()
            for place, waiting in enumerate(self._waiting, start=1):
                if waiting is job:
                    return place
            return 0

    def cancel(self, session: str, reason: str = "cancelled") -> None:
        with self._changed:
            job = self._jobs.get(session)
            if job is not None and not job.finished:
                self._cancel(job, reason)
                self._changed.notify_all()

    def end_session(self, session: str) -> None:
        """The session has ended: cancel its job and forget it (the session-end hook calls this)."""
        with self._changed:
            job = self._jobs.pop(session, None)
            if job is not None and not job.finished:
                self._cancel(job, "the session ended")
            self._changed.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no job runs or waits; True if that happened within ``timeout``."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._running and not self._waiting, timeout)

    def close(self) -> None:
        with self._changed:
            self._closed = True
            for job in list(self._waiting):
                self._cancel(job, "the server is shutting down")
            for job in self._jobs.values():
                job.token.cancel("the server is shutting down")
            self._changed.notify_all()

    def _cancel(self, job: Job, reason: str) -> None:
        job.token.cancel(reason)
        if job in self._waiting:
            self._waiting.remove(job)
            self._finish(job, CANCELLED, error=reason)

    def _prune(self) -> None:
        """Drop waiting jobs whose session has ended, so they hold no place in line."""
        for job in [j for j in self._waiting if j.token.cancelled]:
            self._waiting.remove(job)
            self._finish(job, CANCELLED, error=job.token.reason)

    def _finish(self, job: Job, state: str, result: Any = None, error: str | None = None) -> None:
        job.result, job.error, job.state = result, error, state
        if state == DONE:
            job.fraction = 1.0
            if job.key is not None and job.keep:
                self._results.put(job.key, result)

    def _serve(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._closed or self._waiting)
                if self._closed:
                    return
                job = self._waiting.popleft()
                if job.token.cancelled:
                    self._finish(job, CANCELLED, error=job.token.reason)
                    self._changed.notify_all()
                    continue
                if job.keep and job.key is not None and job.key in self._results:
                    self._finish(job, DONE, result=self._results.get(job.key))
                    self._changed.notify_all()
                    continue
                job.state = RUNNING
                self._running += 1
            state, result, error = self._run(job)
            with self._changed:
                self._running -= 1
                self._finish(job, state, result, error)
                self._changed.notify_all()

    @staticmethod
    def _run(job: Job) -> tuple[str, Any, str | None]:
        """(state, result, one-line error): a viewer sees one line, the server log the traceback."""
        try:
            result = job.work(job)
            job.token.check()  # cancelled at the last moment: the session no longer wants it
            return DONE, result, None
        except Cancelled as err:
            return CANCELLED, None, str(err)
        except WiseftError as err:
            return FAILED, None, str(err).splitlines()[0] if str(err) else job.title + " failed"
        except Exception as err:  # noqa: BLE001 - a worker must survive any computation
            LOG.exception("job %r failed", job.title)
            return FAILED, None, f"{job.title} failed ({type(err).__name__}); the server log has the details"
