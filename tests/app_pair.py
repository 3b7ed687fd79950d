"""The model pair the app tests run on: the shipped demo pair when present, else a generated tiny pair.

Both give the same app behaviour (the generated fine-tuned head is rotated by one class, so the
top-1 class moves between alpha 0 and 1); the generated pair needs no assets and no download.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import sys
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from wiseft_core import testing
from wiseft_core.demo.assets import DEMO_FINETUNED, DEMO_ZEROSHOT, demo_pair_available
from wiseft_core.testing import CHROMIUM, CHROMIUM_ARGS, free_port, streamlit_server  # noqa: F401 (re-exported)

REPO = Path(__file__).resolve().parent.parent
APP = str(REPO / "app.py")
APPTEST_TIMEOUT = 120


def open_app(page: str | None = None, timeout: float = APPTEST_TIMEOUT) -> AppTest:
    """The app through AppTest, on ``page`` (a file name under app_pages/) when given; fails on an exception."""
    at = AppTest.from_file(APP, default_timeout=timeout).run()
    assert not at.exception, at.exception
    if page:
        at.switch_page(f"app_pages/{page}.py").run()
        assert not at.exception, at.exception
    return at


def plain(text: str) -> str:
    """A message as the viewer reads it: the app escapes Markdown in every name it shows (and breaks autolinks
    with an invisible word joiner)."""
    return re.sub(r"\\(.)", r"\1", text).replace("\u2060", "")


@pytest.fixture(scope="session")
def app_pair(tmp_path_factory) -> tuple[str, str]:
    """(zero-shot path, fine-tuned path)."""
    if demo_pair_available():
        return str(DEMO_ZEROSHOT), str(DEMO_FINETUNED)
    zeroshot, finetuned = testing.write_random_pair(tmp_path_factory.mktemp("app_pair"))
    return str(zeroshot), str(finetuned)


@pytest.fixture
def app_argv(app_pair, monkeypatch):
    """Launch options as a presenter would pass them (AppTest runs in-process and reads sys.argv).

    With the demo pair present there are none: the tests then exercise the app's default pair.
    """
    import torch

    argv = ["app.py"]
    if not demo_pair_available():
        argv += ["--zeroshot", app_pair[0], "--finetuned", app_pair[1]]
    monkeypatch.setattr(sys, "argv", argv)
    threads = torch.get_num_threads()
    yield argv
    torch.set_num_threads(threads)  # app.py sets the process-wide thread count; leave other tests theirs


def png_bytes(color=(200, 40, 40), size=(48, 40)) -> bytes:
    """A small solid image with a shape, encoded as PNG."""
    image = Image.new("RGB", size, color)
    for x in range(size[0] // 4, size[0] // 2):
        for y in range(size[1] // 4, 3 * size[1] // 4):
            image.putpixel((x, y), (255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def launch_with(monkeypatch, *extra: str) -> list[str]:
    """Add operator launch options (``--models-dir D``, ``--trust-pickle``) to what ``app_argv`` set."""
    argv = [*sys.argv, *extra]
    monkeypatch.setattr(sys, "argv", argv)
    return argv


def shelve(folder, *files) -> str:
    """Copy checkpoint files into an operator's models folder; returns the folder (for ``--models-dir``)."""
    import shutil

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for file in files:
        shutil.copyfile(file, folder / Path(file).name)
    return str(folder)


def browser_missing(reason: str):
    """Skip a browser test, except under CI, where a missing browser is a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser test cannot run under CI: {reason}")
    pytest.skip(reason)


def require_browser() -> None:
    try:
        import playwright  # noqa: F401
    except ImportError:
        browser_missing("playwright is not installed (pip install playwright)")
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        browser_missing(f"no Chromium at {CHROMIUM} (apt-get install chromium)")


def server_app_args(app_pair: tuple[str, str]) -> list[str]:
    """Launch options for a test server: none with the demo pair, else the generated pair."""
    return [] if demo_pair_available() else ["--zeroshot", app_pair[0], "--finetuned", app_pair[1]]
