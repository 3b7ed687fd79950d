"""The Playground's saliency filmstrip through AppTest: frames come from the room's job queue and shared pool."""

from __future__ import annotations

import sys
import time

from app_pair import REPO
from streamlit.testing.v1 import AppTest

PAGE = str(REPO / "tests" / "browser" / "filmstrip_page.py")
TIMEOUT = 180


def test_the_filmstrip_computes_its_frames_as_the_sessions_job_on_the_shared_pool(app_pair, monkeypatch):
    from app_pages.shared import live_pool

    monkeypatch.setattr(sys, "argv", [PAGE, *app_pair])
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    at.toggle(key="filmstrip_on").set_value(True).run()
    for _ in range(TIMEOUT * 4):
        if not any(b.key == "filmstrip_job_cancel" for b in at.button):
            break
        time.sleep(0.25)
        at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    captions = [c.value for c in at.caption]
    assert [c for c in captions if c.startswith("Where θ(α) looks")] == ["Where θ(α) looks: shape 0",
                                                                          "Where θ(α) looks: shape 1"]
    assert len(at.image) == 12  # 2 images x (0, 0.25, 0.4, 0.5, 0.75, 1)
    pool = live_pool("browser-test", None, "cpu")  # cached per pair key: the pool the Playground leases from
    assert 1 <= pool.created <= pool.size  # the shared pool's models, not one of the filmstrip's own
    at.run()  # a rerun finds every frame kept: no new job
    assert not any(b.key == "filmstrip_job_cancel" for b in at.button) and len(at.image) == 12
