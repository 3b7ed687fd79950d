"""The model pair the app tests run on: the shipped demo pair when present, else a generated tiny pair.

Both give the same app behaviour (the generated fine-tuned head is rotated by one class, so the
top-1 class moves between alpha 0 and 1); the generated pair needs no assets and no download.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from PIL import Image

from wiseft_core import app_support

REPO = Path(__file__).resolve().parent.parent
APP = str(REPO / "app.py")


@pytest.fixture(scope="session")
def app_pair(tmp_path_factory) -> tuple[str, str]:
    """(zero-shot path, fine-tuned path)."""
    if app_support.demo_pair_available():
        return str(app_support.DEMO_ZEROSHOT), str(app_support.DEMO_FINETUNED)
    zeroshot, finetuned = app_support.write_random_pair(tmp_path_factory.mktemp("app_pair"))
    return str(zeroshot), str(finetuned)


@pytest.fixture
def app_argv(app_pair, monkeypatch):
    """Launch options as a presenter would pass them (AppTest runs in-process and reads sys.argv).

    With the demo pair present there are none: the tests then exercise the app's default pair.
    """
    import torch

    argv = ["app.py"]
    if not app_support.demo_pair_available():
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
