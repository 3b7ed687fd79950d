"""A file's identity for caches: path, modification time and size, so a replaced file is never served stale.

Streamlit caches ignore ``_underscore`` arguments, so pages pass this stamp as a plain argument.
"""

from __future__ import annotations

import os
from pathlib import Path


def file_stamp(path: str | os.PathLike | None) -> tuple:
    """``(resolved path, mtime_ns, size)`` of a file; ``(path,)`` when there is none (missing is a state too)."""
    if path is None:
        return ("",)
    p = Path(path)
    if not p.is_file():
        return (str(p),)
    stat = p.stat()
    return (str(p.resolve()), stat.st_mtime_ns, stat.st_size)
