"""The Playground's stored first answer: exactly what the live page sends, and only for the visit it was made for."""

from __future__ import annotations

import json
import shutil
import time

import pytest
from app_pair import open_app

from wiseft_core.demo.assets import DEMO_DIR, PREVIEW_FILE, demo_pair_available
from wiseft_core.demo.playground_preview import build_preview, preview_payload

pytestmark = pytest.mark.skipif(not demo_pair_available(), reason="needs the shipped demo pair")


def assert_close(a, b, path="payload"):
    """Equal structures, numbers to 1e-6 (a batch of one and a batch of two differ in the last bits)."""
    if isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, abs=1e-6), path
    elif isinstance(a, dict):
        assert set(a) == set(b), (path, set(a) ^ set(b))
        for key in a:
            assert_close(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_close(x, y, f"{path}[{i}]")
    else:
        assert a == b, path


@pytest.fixture
def demo_copy(tmp_path):
    for name in ("zeroshot.safetensors", "finetuned.safetensors", PREVIEW_FILE):
        shutil.copy(DEMO_DIR / name, tmp_path / name)
    return tmp_path


def test_the_shipped_preview_is_what_the_demo_pair_computes_now():
    stored = json.loads((DEMO_DIR / PREVIEW_FILE).read_text())
    assert_close(stored, json.loads(json.dumps(build_preview(DEMO_DIR))))  # as stored: JSON keys are strings
    assert len(stored["payloads"]) == 21 and stored["sample"] == "photo_13_large_star,sketch_13_large_star"


def test_a_preview_is_the_stored_payload_with_its_thumbnails_and_a_disabled_slider(demo_copy):
    payload = preview_payload(0.5, None, demo_copy)
    assert payload["preview"] is True and payload["alpha"] == 0.5 and not payload["pending"]
    assert [image["name"] for image in payload["images"]] == ["photo: large star", "sketch: large star"]
    assert all(image["thumb"].startswith("data:image/png;base64,") for image in payload["images"])
    assert preview_payload(0.5, "photo_13_large_star,sketch_13_large_star", demo_copy) is not None


@pytest.mark.parametrize("alpha, sample", [(0.52, None), (1.5, None), (-0.5, None), (0.5, "photo_1_large_circle")])
def test_no_preview_off_the_grid_or_for_another_pick(demo_copy, alpha, sample):
    assert preview_payload(alpha, sample, demo_copy) is None


def test_no_preview_once_the_pair_changed_or_the_file_is_unreadable(demo_copy):
    finetuned = demo_copy / "finetuned.safetensors"
    finetuned.write_bytes(finetuned.read_bytes()[:-1] + b" ")
    assert preview_payload(0.5, None, demo_copy) is None
    shutil.copy(DEMO_DIR / "finetuned.safetensors", finetuned)
    assert preview_payload(0.5, None, demo_copy) is not None
    (demo_copy / PREVIEW_FILE).write_text("{not json")
    assert preview_payload(0.5, None, demo_copy) is None
    (demo_copy / PREVIEW_FILE).unlink()
    assert preview_payload(0.5, None, demo_copy) is None


@pytest.mark.slow
@pytest.mark.usefixtures("app_argv")
def test_the_live_page_sends_the_numbers_the_preview_stores():
    at = open_app("playground")
    for _ in range(120):  # the grids fill in the background; the page polls
        data = json.loads(at.get("bidi_component")[-1].proto.json)[0]
        if not data["pending"]:
            break
        time.sleep(0.5)
        at.run()
    assert not data["pending"]
    stored = preview_payload(0.5, None)
    live = {k: v for k, v in data.items() if k not in ("text", "poll_ms")}
    assert_close({**live, "preview": True}, stored)
