"""Which step each running talk is on, so a speaker-notes tab can follow the presenting tab.

Two browser tabs are two independent sessions of the app; they meet here, in one process-wide
object keyed by a short room id that both tabs carry in their URL. Thread-safe: every session
runs in its own thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

MAX_ROOMS = 256


@dataclass(frozen=True)
class RoomState:
    """The presenting tab's step and language; when the talk and the current step started."""

    step: int
    lang: str
    started: float
    step_started: float

    def elapsed(self, now: float) -> tuple[float, float]:
        """Seconds since the talk started and since this step started."""
        return now - self.started, now - self.step_started


class TalkRooms:
    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._lock = threading.Lock()
        self._rooms: dict[str, RoomState] = {}

    def update(self, room: str, step: int, lang: str) -> RoomState:
        """Record the presenting tab's step; the step timer restarts only when the step changes."""
        now = self.clock()
        with self._lock:
            old = self._rooms.get(room)
            if old is None:
                if len(self._rooms) >= MAX_ROOMS:  # forget the oldest talk rather than grow forever
                    self._rooms.pop(min(self._rooms, key=lambda r: self._rooms[r].step_started))
                state = RoomState(step, lang, now, now)
            elif old.step != step:
                state = replace(old, step=step, lang=lang, step_started=now)
            else:
                state = replace(old, lang=lang)
            self._rooms[room] = state
            return state

    def get(self, room: str) -> RoomState | None:
        with self._lock:
            return self._rooms.get(room)

    def restart(self, room: str) -> None:
        """Restart the talk's timer (the presenter is about to begin)."""
        now = self.clock()
        with self._lock:
            if room in self._rooms:
                self._rooms[room] = replace(self._rooms[room], started=now, step_started=now)


def format_elapsed(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    return f"{seconds // 60:02d}:{seconds % 60:02d}"
