"""The Playground against a hostile viewer: forged slider messages, many or huge images, a NaN session alpha."""

from __future__ import annotations

import io

import pytest
from app_pair import APP, png_bytes
from PIL import Image
from streamlit.proto.WidgetStates_pb2 import WidgetStates
from streamlit.testing.v1 import AppTest

from wiseft_core.files import images

TIMEOUT = 120


def playground() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["page"] = "playground"
    at.run()
    assert not at.exception, at.exception
    return at


def send_slider(at: AppTest, state: str) -> AppTest:
    """What a browser (or a forged websocket message) sends when the live slider is released."""
    states: WidgetStates = at._tree.get_widget_states()
    widget = states.widgets.add()
    widget.id = at.get("bidi_component")[0].proto.id
    widget.json_value = state
    return at._run(states)


@pytest.mark.slow
@pytest.mark.usefixtures("app_argv")
@pytest.mark.parametrize("state", ['{"alpha": "nan"}', '{"alpha": NaN}', '{"alpha": Infinity}', '{"alpha": 7}',
                                   '{"alpha": [0.3]}', '{"alpha": null}'])
def test_a_forged_slider_value_is_ignored_with_one_line_and_the_session_keeps_its_alpha(state):
    at = send_slider(playground(), '{"alpha": 0.3}')
    assert at.session_state["wiseft_alpha"] == 0.3 and not at.warning
    send_slider(at, state)
    assert not at.exception, at.exception
    assert at.session_state["wiseft_alpha"] == 0.3
    assert [w.value for w in at.warning] == ["Ignored a slider value that is not an α in [0, 1]."]


@pytest.mark.slow
@pytest.mark.usefixtures("app_argv")
def test_a_non_finite_session_alpha_falls_back_to_the_links_alpha():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["page"] = "curves"
    at.query_params["alpha"] = "0.7"
    at.session_state["wiseft_alpha"] = float("nan")
    at.run()
    assert not at.exception and at.session_state["wiseft_alpha"] == 0.7


def large_png(side: int = 3000) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (30, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.slow
@pytest.mark.usefixtures("app_argv")
def test_images_are_counted_before_decoding_decoded_once_and_kept_only_model_sized(monkeypatch):
    decoded = []
    real = images.open_image_with_notes

    def counting(source):
        decoded.append(getattr(source, "name", "?"))
        return real(source)

    monkeypatch.setattr(images, "open_image_with_notes", counting)
    at = playground()
    gallery = len(decoded)  # the first visit's gallery picks
    files = [(f"big{i}.png", large_png(), "image/png") for i in range(3)]
    files += [(f"small{i}.png", png_bytes(color=(10 * i, 40, 40)), "image/png") for i in range(7)]
    at.file_uploader(key="images_upload").set_value(files).run()
    assert not at.exception, at.exception
    assert len(decoded) - gallery == 6, decoded  # the four files past the cap were never opened
    refused = [w.value for w in at.warning if "at most 6 files" in w.value]
    assert len(refused) == 4
    before = len(decoded)
    at.run()
    at.toggle(key="extrapolate").set_value(True).run()
    assert len(decoded) == before  # reruns reuse the first decode
    size = at.session_state["_pair_context"].pair.preprocessing.image_size
    kept = [entry.image for entry in at.session_state["_images"].entries.values() if entry.image is not None]
    assert kept and all(min(image.size) <= size for image in kept)  # never the 3000x3000 decode
