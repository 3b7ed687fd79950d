"""A talk's audience on their phones: the presenter's step and alpha, and one poll ("which alpha is best?").

Every viewer of the app is a session of one server process; the presenter's talk page and the students'
``?page=audience&room=ID`` pages meet here, in one process-wide object keyed by the talk's room id (as the
speaker-notes tab meets the talk in ``talk.rooms``). The presenter's page calls ``publish`` on each run;
a student's page reads ``presenter`` every second and sends ``vote``; the presenter's step shows
``histogram(room)``. Thread-safe (each session runs in its own thread); bounded, since room ids and
students come from URLs and phones.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from wiseft_core.errors import WiseftError

MAX_ROOMS = 256
MAX_VOTERS = 2000  # per room: a lecture hall, not the internet
POLL_STEP = 0.05  # answers are alphas on the slider's grid
POLL_ALPHAS: tuple[float, ...] = tuple(round(i * POLL_STEP, 2) for i in range(21))


@dataclass(frozen=True)
class PresenterState:
    """Where the presenter is: the talk's step, alpha and language, and when they last sent it."""

    step: int
    alpha: float
    lang: str
    updated: float


@dataclass
class _Room:
    presenter: PresenterState | None = None
    votes: dict[str, float] = field(default_factory=dict)  # student id -> alpha (the latest answer counts)
    touched: float = 0.0


def poll_alpha(alpha: float) -> float:
    """An answer as the poll counts it: the nearest grid alpha in [0, 1]; NaN and infinities are refused."""
    if not isinstance(alpha, (int, float)) or not math.isfinite(alpha):
        raise WiseftError(f"a poll answer must be a finite alpha in [0, 1], got {alpha!r}")
    return POLL_ALPHAS[min(range(len(POLL_ALPHAS)), key=lambda i: abs(POLL_ALPHAS[i] - alpha))]


class Audience:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._rooms: dict[str, _Room] = {}

    def _room(self, room: str) -> _Room:
        """The room's record, made on first use; the least recently used room goes when there are too many."""
        found = self._rooms.get(room)
        if found is None:
            if len(self._rooms) >= MAX_ROOMS:
                self._rooms.pop(min(self._rooms, key=lambda r: self._rooms[r].touched))
            found = self._rooms[room] = _Room()
        found.touched = self.clock()
        return found

    def publish(self, room: str, step: int, alpha: float, lang: str = "en") -> None:
        """The presenter's page: its current step, alpha and language."""
        with self._lock:
            self._room(room).presenter = PresenterState(int(step), float(alpha), lang, self.clock())

    def presenter(self, room: str) -> PresenterState | None:
        with self._lock:
            found = self._rooms.get(room)
            return found.presenter if found else None

    def vote(self, room: str, student: str, alpha: float) -> float:
        """A student's answer (a new one replaces theirs); returns the alpha counted."""
        counted = poll_alpha(alpha)
        with self._lock:
            votes = self._room(room).votes
            if student not in votes and len(votes) >= MAX_VOTERS:
                raise WiseftError(f"this poll already has {MAX_VOTERS} answers")
            votes[student] = counted
        return counted

    def histogram(self, room: str) -> dict[float, int]:
        """Answers per alpha on the poll's grid (every grid alpha, zeros included), for the presenter's chart."""
        with self._lock:
            found = self._rooms.get(room)
            counts = Counter(found.votes.values()) if found else Counter()
        return {alpha: counts.get(alpha, 0) for alpha in POLL_ALPHAS}

    def reset_poll(self, room: str) -> None:
        with self._lock:
            if room in self._rooms:
                self._rooms[room].votes.clear()


AUDIENCE = Audience()  # the process's rooms: every session of a server shares it


def publish(room: str, step: int, alpha: float, lang: str = "en") -> None:
    """The presenter's talk page, once per run: ``audience.publish(room, step, alpha, lang)``."""
    AUDIENCE.publish(room, step, alpha, lang)


def histogram(room: str) -> dict[float, int]:
    """The live poll of ``room``: {alpha: number of students who picked it}, every grid alpha listed."""
    return AUDIENCE.histogram(room)
