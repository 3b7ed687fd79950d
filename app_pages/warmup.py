"""A new server's heavy imports (PyTorch, open_clip, the pages' shared code), in a background thread.

The first run of a new server starts them at once and draws what needs none of them (the page's frame,
the Playground's precomputed first answer) while they load; every later run finds them done.
"""

from __future__ import annotations

import importlib
import threading

HEAVY_MODULES = ("torch", "open_clip", "app_pages.shared", "app_pages.filmstrip", "wiseft_core.serve.alpha_grid",
                 "wiseft_core.serve.slider_data", "wiseft_core.serve.builds", "wiseft_core.engine.pair")
_done = threading.Event()
_lock = threading.Lock()
_started: list[threading.Thread] = []


def heavy_ready() -> bool:
    return _done.is_set()


def start_heavy_imports() -> None:
    """Start the imports once per process (later calls do nothing)."""
    with _lock:
        if not _started:
            _started.append(threading.Thread(target=_import_all, name="wiseft-imports", daemon=True))
            _started[0].start()


def wait_heavy_imports() -> None:
    start_heavy_imports()
    _done.wait()


def _import_all() -> None:
    try:
        for name in HEAVY_MODULES:
            importlib.import_module(name)
    except Exception:  # noqa: BLE001 - the script's own import then raises it where the page can report it
        pass
    finally:
        _done.set()
