"""Several viewers at different alphas at once: each must see exactly the predictions of its own alpha.

The app shares one loaded pair (read-only endpoints) across sessions and gives each session its
own live interpolator; these tests check that design under real thread concurrency (library
level, the same calls the Playground makes) and through eight interleaved AppTest sessions.
"""

from __future__ import annotations

import threading

import pytest
import torch
from app_pair import APP, app_argv, app_pair, png_bytes  # noqa: F401 (fixtures)
from streamlit.testing.v1 import AppTest

from wiseft_core import alpha_grid
from wiseft_core.images import open_image
from wiseft_core.pair import load_pair
from wiseft_core.predict import to_batch

ALPHAS = [-0.5, -0.25, 0.1, 0.35, 0.6, 0.85, 1.15, 1.3]


@pytest.fixture(scope="module")
def shared_pair(app_pair):  # noqa: F811
    return load_pair(*app_pair)


def reference_logits(pair, batch: torch.Tensor) -> dict[float, torch.Tensor]:
    """Single-threaded, one fresh interpolator per alpha."""
    return {a: alpha_grid.live_weight_space_logits(pair.new_interpolator(), batch, a) for a in ALPHAS}


def test_eight_threads_at_eight_alphas_each_get_exactly_their_own_alphas_logits(shared_pair):
    pair = shared_pair
    batch = to_batch([open_image(png_bytes()), open_image(png_bytes((20, 90, 200)))], pair.preprocessing)
    expected = reference_logits(pair, batch)
    interpolators = [pair.new_interpolator() for _ in ALPHAS]
    barrier = threading.Barrier(len(ALPHAS))
    results: dict[float, list[torch.Tensor]] = {a: [] for a in ALPHAS}
    failures: list[BaseException] = []

    def viewer(interpolator, alpha: float) -> None:
        try:
            for _ in range(6):
                barrier.wait(timeout=60)  # everyone moves their slider at the same moment
                results[alpha].append(alpha_grid.live_weight_space_logits(interpolator, batch, alpha))
        except BaseException as err:  # noqa: BLE001 - reported below
            failures.append(err)

    threads = [threading.Thread(target=viewer, args=(i, a)) for i, a in zip(interpolators, ALPHAS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    for alpha in ALPHAS:
        assert len(results[alpha]) == 6
        for logits in results[alpha]:
            torch.testing.assert_close(logits, expected[alpha], rtol=0, atol=1e-6, equal_nan=True)
            assert torch.equal(logits.argmax(-1), expected[alpha].argmax(-1))
    # and the shared endpoints were never written: alpha 0 / 1 still give the endpoint models' logits
    torch.testing.assert_close(expected[ALPHAS[2]], alpha_grid.live_weight_space_logits(
        pair.new_interpolator(), batch, ALPHAS[2]), rtol=0, atol=0)
    torch.testing.assert_close(alpha_grid.forward_logits(pair.zeroshot.model, batch),
                               alpha_grid.live_weight_space_logits(pair.new_interpolator(), batch, 0.0),
                               rtol=0, atol=1e-6)


@pytest.mark.slow
@pytest.mark.usefixtures("app_argv")
def test_eight_app_sessions_interleaved_each_show_their_own_alphas_predictions(shared_pair):
    image = png_bytes()
    batch = to_batch([open_image(image)], shared_pair.preprocessing)
    expected = reference_logits(shared_pair, batch)
    sessions = []
    for _ in ALPHAS:  # open eight sessions on the Playground with the same image, live (extrapolation) range
        at = AppTest.from_file(APP, default_timeout=120).run()
        at.switch_page("app_pages/playground.py").run()
        at.file_uploader(key="images_upload").set_value(("shape.png", image, "image/png")).run()
        at.toggle(key="extrapolate").set_value(True).run()
        sessions.append(at)
    for at, alpha in zip(sessions, ALPHAS, strict=True):  # each moves its own slider...
        at.slider(key="alpha_slider_-0.5_1.5").set_value(alpha).run()
    for at, alpha in reversed(list(zip(sessions, ALPHAS))):  # ...then all rerun in another order
        at.run()
        assert not at.exception
        shown = at.session_state["_shown"]
        assert shown["alpha"] == alpha
        uploaded = shown["probs"][:1]  # uploads come first; the demo gallery may add its default samples
        torch.testing.assert_close(uploaded, expected[alpha].softmax(-1), rtol=0, atol=1e-6, equal_nan=True)
    keys = {id(at.session_state["_interpolator"][1]) for at in sessions}
    assert len(keys) == len(ALPHAS)  # one live model per session
