"""Which step each running talk is on, so a presenter view can follow and drive the projected tab.

Browser tabs are independent sessions of the app; they meet here, in one process-wide object keyed
by a short room id that the tabs carry in their URL. A room belongs to the tab that claimed it with
a random secret (only that tab and its presenter-view link know it): without the secret nobody can
move the room, read its notes or send it a step. Thread-safe: every session runs in its own thread.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

MAX_ROOMS = 256


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class RoomState:
    """The projected tab's step, language and alpha; when the talk and the current step started.

    ``started`` is None until the talk starts (its first step change, or the presenter's start button),
    so a timer never counts the minutes a tab sat open before the talk. ``command_*`` is the last step
    the presenter view asked the projected tab to show (``command_seq`` grows with each request).
    """

    step: int
    lang: str
    started: float | None
    step_started: float
    secret_digest: str = ""
    alpha: float | None = None
    command_step: int = 0
    command_seq: int = 0
    touched: float = 0.0

    def elapsed(self, now: float) -> tuple[float, float]:
        """Seconds since the talk started and since this step started (both 0 before the talk starts)."""
        if self.started is None:
            return 0.0, 0.0
        return now - self.started, now - self.step_started


class TalkRooms:
    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._lock = threading.Lock()
        self._rooms: dict[str, RoomState] = {}

    def _new(self, room: str, step: int, lang: str, secret: str) -> RoomState:
        if len(self._rooms) >= MAX_ROOMS:  # forget the least recently used talk rather than grow forever
            self._rooms.pop(min(self._rooms, key=lambda r: self._rooms[r].touched))
        now = self.clock()
        state = RoomState(step, lang, None, now, _digest(secret) if secret else "", touched=now)
        self._rooms[room] = state
        return state

    def _owner(self, room: str, secret: str | None) -> bool:
        state = self._rooms.get(room)
        if state is None or not state.secret_digest:
            return state is not None
        return bool(secret) and hmac.compare_digest(state.secret_digest, _digest(secret))

    def claim(self, room: str, secret: str, step: int = 1, lang: str = "en") -> bool:
        """Open the room for the tab holding ``secret``; True when it is (or now is) that tab's room."""
        with self._lock:
            if room not in self._rooms:
                self._new(room, step, lang, secret)
                return True
            return self._owner(room, secret)

    def is_owner(self, room: str, secret: str | None) -> bool:
        with self._lock:
            return room in self._rooms and self._owner(room, secret)

    def update(self, room: str, step: int, lang: str, secret: str = "", alpha: float | None = None) -> RoomState | None:
        """Record the projected tab's step (only its owner may); the clock starts at the first step change."""
        with self._lock:
            if room not in self._rooms:
                self._new(room, step, lang, secret)
            if not self._owner(room, secret):
                return None
            now = self.clock()
            old = self._rooms[room]
            state = replace(old, lang=lang, touched=now, alpha=old.alpha if alpha is None else alpha)
            if old.step != step:
                state = replace(state, step=step, step_started=now, started=old.started if old.started else now)
            self._rooms[room] = state
            return state

    def get(self, room: str) -> RoomState | None:
        with self._lock:
            return self._rooms.get(room)

    def command(self, room: str, secret: str, step: int) -> bool:
        """The presenter view asks the projected tab to show ``step``; refused without the room's secret."""
        with self._lock:
            if room not in self._rooms or not self._owner(room, secret):
                return False
            old = self._rooms[room]
            self._rooms[room] = replace(old, command_step=step, command_seq=old.command_seq + 1)
            return True

    def restart(self, room: str, secret: str = "") -> bool:
        """Start (or restart) the talk's clock now: the presenter is about to begin."""
        now = self.clock()
        with self._lock:
            if room not in self._rooms or not self._owner(room, secret):
                return False
            self._rooms[room] = replace(self._rooms[room], started=now, step_started=now)
            return True


def format_elapsed(seconds: float) -> str:
    sign = "−" if seconds < 0 else ""
    seconds = abs(int(seconds))
    return f"{sign}{seconds // 60:02d}:{seconds % 60:02d}"
