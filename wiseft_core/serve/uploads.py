"""Viewers' uploaded files on the server: private per session, streamed to disk, bounded, and deleted.

A served app is shared by strangers, so an upload must be usable by its own session only and must
not let anyone steer where bytes are written: every session gets a fresh folder (mode 0700, random
name, created exclusively) under a process-private root; every file is created with ``O_EXCL`` and
``O_NOFOLLOW`` (a planted file or a symbolic link makes the write fail instead of being used or
followed); bytes are copied in fixed-size chunks (no whole-file copies in memory); one total cap
covers all sessions; a session's folder is deleted when the session ends or after an idle timeout.
Nothing here imports Streamlit: the app calls ``store``/``touch``/``release``.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from wiseft_core.errors import WiseftError

CHUNK = 1 << 20
_SUFFIX = re.compile(r"^\.[a-z0-9]{1,12}$")


class UploadError(WiseftError):
    """An upload that cannot be kept (over the cap, unreadable); the message is for the viewer."""


@dataclass(frozen=True)
class UploadLimit:
    """What one upload widget accepts, checked on the server (a browser's own limit can be bypassed)."""

    max_files: int
    max_file_bytes: int
    max_total_bytes: int


MB = 1 << 20
IMAGES = UploadLimit(max_files=6, max_file_bytes=50 * MB, max_total_bytes=100 * MB)  # the Playground shows six
SWEEP_CSV = UploadLimit(max_files=1, max_file_bytes=20 * MB, max_total_bytes=20 * MB)
CHECKPOINT = UploadLimit(max_files=1, max_file_bytes=1024 * MB, max_total_bytes=1024 * MB)  # the global cap
CLASS_NAMES = UploadLimit(max_files=1, max_file_bytes=1 * MB, max_total_bytes=1 * MB)


def admit(files: Sequence, limit: UploadLimit) -> tuple[list, list[str]]:
    """The uploads (``.name``, ``.size``) within ``limit``, in order, and one line per refused file.

    Called before any file is read, decoded or stored: a refused file costs nothing more.
    """
    kept, refused, total = [], [], 0
    for upload in files:
        name, size = str(upload.name), int(upload.size)
        if len(kept) >= limit.max_files:
            refused.append(f"{name}: at most {limit.max_files} file{'s' * (limit.max_files > 1)} here; "
                           "this one was not used")
        elif size > limit.max_file_bytes:
            refused.append(f"{name}: {_mb(size)} is over the {_mb(limit.max_file_bytes)} limit per file")
        elif total + size > limit.max_total_bytes:
            refused.append(f"{name}: these files together are over the {_mb(limit.max_total_bytes)} limit")
        else:
            kept.append(upload)
            total += size
    return kept, refused


def _mb(size: int) -> str:
    return f"{size / 2**20:.1f} MB" if size < 10 * 2**20 else f"{size / 2**20:.0f} MB"


@dataclass
class _Slot:
    path: Path
    size: int
    tag: str


@dataclass
class _Session:
    folder: Path
    last_used: float
    slots: dict[str, _Slot] = field(default_factory=dict)


def _safe_suffix(name: str) -> str:
    """The upload's extension if it is plain (``.safetensors``); the file name itself is never used on disk."""
    suffix = Path(name).suffix.lower()
    return suffix if _SUFFIX.match(suffix) else ".bin"


class UploadStore:
    """Uploads of every session of one server process; thread-safe (sessions run in their own threads)."""

    def __init__(self, parent: str | os.PathLike | None = None, total_cap_bytes: int = 4 << 30,
                 idle_seconds: float = 3600.0, clock: Callable[[], float] = time.monotonic,
                 session_cap_bytes: int | None = None) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="wiseft-uploads-", dir=parent))  # 0700, ours alone
        self.total_cap_bytes = total_cap_bytes
        self.session_cap_bytes = total_cap_bytes if session_cap_bytes is None else session_cap_bytes
        self.idle_seconds = idle_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, _Session] = {}
        self._total = 0

    @property
    def total_bytes(self) -> int:
        with self._lock:
            return self._total

    def _session(self, session: str) -> _Session:
        held = self._sessions.get(session)
        if held is None:
            folder = self.root / secrets.token_hex(16)
            os.mkdir(folder, 0o700)  # fails if anything already has that name
            held = _Session(folder, self._clock())
            self._sessions[session] = held
        held.last_used = self._clock()
        return held

    def lookup(self, session: str, slot: str, tag: str) -> Path | None:
        """The file kept for ``slot`` if it came from the same upload (``tag``), so reruns do not copy again."""
        with self._lock:
            held = self._sessions.get(session)
            kept = held.slots.get(slot) if held else None
            if kept is None or kept.tag != tag:
                return None
            held.last_used = self._clock()
            return kept.path

    def store(self, session: str, slot: str, name: str, source: BinaryIO, size: int, tag: str = "") -> Path:
        """Copy ``size`` bytes from ``source`` into the session's folder, replacing what ``slot`` held before."""
        self.sweep_idle()
        with self._lock:
            held = self._session(session)
            previous = held.slots.pop(slot, None)
            if previous is not None:
                previous.path.unlink(missing_ok=True)
                self._total -= previous.size
            if size < 0:
                raise UploadError(f"{name}: the upload announced no size")
            if sum(s.size for s in held.slots.values()) + size > self.session_cap_bytes:
                raise UploadError(f"{name}: your uploads together would be over the {_mb(self.session_cap_bytes)} "
                                  "allowed per viewer; remove one first")
            if self._total + size > self.total_cap_bytes:
                raise UploadError(
                    f"{name}: the server's upload space is full ({self.total_cap_bytes / 2**20:.0f} MB for "
                    "everyone); try a smaller file or try again later")
            self._total += size  # reserved before writing, so concurrent uploads cannot overshoot the cap
            path = held.folder / f"{slot}-{secrets.token_hex(4)}{_safe_suffix(name)}"
        try:
            written = _copy_exclusive(source, path, size)
        except BaseException:
            with self._lock:
                self._total -= size
            raise
        with self._lock:
            if self._sessions.get(session) is not held:  # released while we were writing
                self._total -= size
                path.unlink(missing_ok=True)
                raise UploadError(f"{name}: the session ended during the upload")
            self._total -= size - written
            held.slots[slot] = _Slot(path, written, tag)
            held.last_used = self._clock()
        return path

    def touch(self, session: str) -> None:
        """Mark a session as active (each rerun), so the idle timeout counts from its last use."""
        with self._lock:
            if session in self._sessions:
                self._sessions[session].last_used = self._clock()

    def release(self, session: str) -> None:
        """Delete a session's folder and give its bytes back to the cap (session end or idle)."""
        with self._lock:
            held = self._sessions.pop(session, None)
            if held is None:
                return
            self._total -= sum(s.size for s in held.slots.values())
        shutil.rmtree(held.folder, ignore_errors=True)

    def sweep_idle(self) -> list[str]:
        """Release every session idle for longer than the timeout; returns their ids."""
        now = self._clock()
        with self._lock:
            idle = [s for s, held in self._sessions.items() if now - held.last_used > self.idle_seconds]
        for session in idle:
            self.release(session)
        return idle

    def close(self) -> None:
        for session in list(self._sessions):
            self.release(session)
        shutil.rmtree(self.root, ignore_errors=True)


def _copy_exclusive(source: BinaryIO, path: Path, limit: int) -> int:
    """Create ``path`` (never an existing file, never through a link) and copy at most ``limit`` bytes."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, 0o600)  # raises if anything (a file, a link) already has that name
    written = 0
    try:
        with os.fdopen(fd, "wb", buffering=0) as out:
            if hasattr(source, "seek"):
                source.seek(0)
            while True:
                chunk = source.read(min(CHUNK, limit - written + 1))
                if not chunk:
                    break
                written += len(chunk)
                if written > limit:
                    raise UploadError(f"{path.name}: the upload is larger than it announced ({limit} bytes)")
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)  # ours: we created it above
        raise
    return written
