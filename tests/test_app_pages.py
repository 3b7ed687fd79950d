"""Every page through Streamlit's AppTest on the default pair: renders, reacts to alpha, survives bad input."""

from __future__ import annotations

import html
import json
import re
import time
from pathlib import Path

import pytest
from app_pair import APP, launch_with, open_app, plain, png_bytes, shelve
from streamlit.testing.v1 import AppTest


def figure(at: AppTest, index: int = 0) -> dict:
    """The Plotly figure of a chart, parsed: the serialised spec escapes non-ASCII unless orjson is installed."""
    return json.loads(at.get("plotly_chart")[index].proto.spec)


def strings(node) -> list[str]:
    """Every string in a parsed figure (trace names, annotations, axis titles, hover templates)."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        node = list(node.values())
    if isinstance(node, list):
        return [text for item in node for text in strings(item)]
    return []


TIMEOUT = 120


def errors(at: AppTest) -> list[str]:
    return [plain(e.value) for e in at.error]


def sidebar_errors(at: AppTest) -> list[str]:
    return [plain(e.value) for e in at.sidebar.error]


MARKER = re.compile(r'data-alpha="([^"]+)" data-mode="(\w+)" data-image="[^"]*" data-probs="([^"]+)"')


def shown(at: AppTest) -> list[tuple[float, str, list[float]]]:
    """(alpha, mode, probabilities) per image, as the server sent them (the page's hidden markers)."""
    bodies = " ".join(h.proto.body for h in at.get("html"))
    return [(float(a), mode, json.loads(html.unescape(p))) for a, mode, p in MARKER.findall(bodies)]


def predictions(at: AppTest) -> list[str]:
    """Each image's verdict as the live slider words it ("class (p%)"), from the numbers the server sent."""
    classnames = at.session_state["_pair_context"].pair.classnames
    lines = []
    for _, _, probs in shown(at):
        best = max(range(len(probs)), key=probs.__getitem__)
        lines.append(f"{classnames[best]} ({probs[best]:.0%})")
    return lines


def live_data(at: AppTest) -> dict:
    """What the live slider element was sent (it draws the cards in the browser, invisible to AppTest)."""
    return json.loads(at.get("bidi_component")[0].proto.json)[0]  # sent as a one-item list


def set_alpha(at: AppTest, alpha: float) -> AppTest:
    """What releasing the live slider does (its callback sets the session's alpha), then the rerun."""
    at.session_state["wiseft_alpha"] = alpha
    return at.run()


def settled(at: AppTest, timeout: float = 60) -> AppTest:
    """Rerun until the background grid filler has completed every chart (the timing caption appears)."""
    deadline = time.time() + timeout
    while not any("weight space" in c.value for c in at.caption) and time.time() < deadline:
        time.sleep(0.2)
        at.run()
    return at


def with_uploaded_image(at: AppTest, name: str = "shape.png", data: bytes | None = None) -> AppTest:
    at.file_uploader(key="images_upload").set_value((name, png_bytes() if data is None else data, "image/png"))
    return at.run()


@pytest.mark.slow
@pytest.mark.usefixtures("app_argv")
def test_home_renders_paper_headline_table_and_curve():
    at = open_app()
    assert not errors(at)
    assert at.title[0].value == "WiSE-FT Explorer"
    table = at.dataframe[0].value
    assert list(table.iloc[:, 0]) == ["Zero-shot", "Fine-tuned (end-to-end)", "WiSE-FT, α = 0.5", "WiSE-FT, optimal α"]
    assert table.iloc[2]["ImageNet"] == 86.8 and table.iloc[2]["Avg shifts"] == 76.9  # Table 1, as printed
    assert at.get("plotly_chart")


@pytest.mark.slow
@pytest.mark.usefixtures("app_argv")
def test_playground_moving_alpha_from_zero_to_one_changes_the_predictions():
    at = with_uploaded_image(open_app("playground"))
    assert not errors(at)
    at_zero = predictions(set_alpha(at, 0.0))
    assert at_zero and {a for a, _, _ in shown(at)} == {0.0}
    set_alpha(at, 1.0)
    assert not at.exception and {a for a, _, _ in shown(at)} == {1.0}
    at_one = predictions(at)
    assert len(at_one) == len(at_zero) and at_one != at_zero
    assert at.session_state["wiseft_alpha"] == 1.0
    assert at.query_params["alpha"] in ("1", ["1"])


@pytest.mark.slow
@pytest.mark.usefixtures("app_argv")
def test_playground_extrapolation_and_output_space_and_per_block_alpha_render():
    at = with_uploaded_image(open_app("playground"))
    at.toggle(key="extrapolate").set_value(True).run()
    set_alpha(at, 1.5)
    assert not at.exception and not errors(at)
    assert predictions(at) and {a for a, _, _ in shown(at)} == {1.5}
    at.radio(key="ensemble_mode").set_value("outputs").run()
    assert not at.exception and predictions(at)
    at.radio(key="ensemble_mode").set_value("weights").run()
    at.toggle(key="per_block").set_value(True).run()
    assert not at.exception and predictions(at)
    assert any("--block-alpha" in c.value for c in at.code)
    settled(at)
    assert any("weight space" in c.value and "output space" in c.value for c in at.caption)


@pytest.mark.slow
@pytest.mark.parametrize("name,data,message", [
    ("corrupt.png", png_bytes()[:60], "corrupt or truncated"),
    ("text.jpg", b"this is not an image at all", "not an image"),
    ("empty.png", b"", "empty"),
])
@pytest.mark.usefixtures("app_argv")
def test_playground_bad_upload_shows_an_error_and_keeps_working(name, data, message):
    at = with_uploaded_image(open_app("playground"), name, data)
    assert not at.exception
    assert any(message in e for e in errors(at)), errors(at)


@pytest.mark.slow
@pytest.mark.usefixtures("app_argv")
def test_curves_marks_current_alpha_and_rejects_a_csv_with_wrong_columns():
    at = open_app()
    at.session_state["wiseft_alpha"] = 0.35
    at.switch_page("app_pages/curves.py").run()
    assert not at.exception and not errors(at)
    fig = figure(at)
    assert "current α" in {trace.get("name") for trace in fig["data"]}
    assert any("current α = 0.35" in text for text in strings(fig))
    at.file_uploader(key="curves_upload").set_value(("mine.csv", b"alpha,acc\n0,50\n", "text/csv")).run()
    assert not at.exception
    assert any("mine.csv" in e and "missing column(s) model, finetuning" in e for e in errors(at)), errors(at)
    assert at.get("plotly_chart")  # still shows the other sources


@pytest.mark.slow
@pytest.mark.usefixtures("app_argv")
def test_weights_page_shows_per_block_changes():
    at = open_app("weights")
    assert not at.exception and not errors(at)
    assert at.get("plotly_chart")
    assert any(m.label.startswith("Head") for m in at.metric)


@pytest.mark.slow
@pytest.mark.usefixtures("app_argv")
def test_sidebar_reports_unusable_checkpoint_and_keeps_the_previous_pair(tmp_path, monkeypatch):
    not_a_checkpoint = tmp_path / "models" / "notes.safetensors"
    not_a_checkpoint.parent.mkdir()
    not_a_checkpoint.write_bytes(b"hello, not a tensor file")
    launch_with(monkeypatch, "--models-dir", str(not_a_checkpoint.parent))
    at = open_app("playground")
    loaded = at.session_state["_pair_context"]
    at.radio(key="pair_source").set_value("files").run()
    at.selectbox(key="files_zs_file").set_value("notes.safetensors")
    at.selectbox(key="files_ft_file").set_value("notes.safetensors").run()
    assert not at.exception
    assert any("notes.safetensors" in e for e in sidebar_errors(at)), sidebar_errors(at)
    assert not any(str(tmp_path) in e for e in sidebar_errors(at))  # names, never server paths
    assert any("Keeping the previously loaded pair" in w.value for w in at.sidebar.warning)
    assert at.session_state["_pair_context"] is loaded
    assert at.title[0].value == "Playground"


@pytest.mark.slow
@pytest.mark.usefixtures("app_argv")
def test_choosing_cuda_without_cuda_warns_and_uses_the_cpu():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    at = open_app()
    at.selectbox(key="device").set_value("cuda").run()
    assert not at.exception
    assert any("no CUDA" in w.value for w in at.sidebar.warning)
    assert at.session_state["_pair_context"].device == "cpu"


def bomb_png(width: int = 30_000, height: int = 30_000) -> bytes:
    """A valid tiny PNG whose header claims huge dimensions (what a decompression bomb looks like)."""
    import struct
    import zlib

    data = bytearray(png_bytes())
    ihdr = 8 + 8  # signature, then length + b"IHDR"
    data[ihdr:ihdr + 8] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[12:ihdr + 13]))
    data[ihdr + 13:ihdr + 17] = struct.pack(">I", crc)
    return bytes(data)


def animated_gif() -> bytes:
    import io

    from PIL import Image

    frames = [Image.new("RGB", (32, 32), color) for color in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


@pytest.mark.slow
@pytest.mark.usefixtures("app_argv")
def test_playground_refuses_a_decompression_bomb_and_uses_the_first_frame_of_an_animated_gif():
    at = with_uploaded_image(open_app("playground"), "bomb.png", bomb_png())
    assert not at.exception
    assert any("too large" in e or "decompression bomb" in e for e in errors(at)), errors(at)
    at = with_uploaded_image(at, "anim.gif", animated_gif())
    assert not at.exception and not errors(at)
    assert any("first frame" in w.value for w in at.warning)
    assert predictions(at)


@pytest.fixture(scope="module")
def other_architecture(app_pair, tmp_path_factory):
    """A fine-tuned checkpoint with the default pair's classes but a narrower, shallower tower."""
    from wiseft_core import testing
    from wiseft_core.files.checkpoints import read_meta

    config = {**testing.TINY_TEST_CONFIG,
              "vision_cfg": {**testing.TINY_TEST_CONFIG["vision_cfg"], "layers": 1, "width": 32}}
    return testing.write_random_pair(tmp_path_factory.mktemp("other_arch"), model_name="wiseft-tiny-narrow",
                                         model_config=config, classnames=read_meta(app_pair[0]).classnames)[1]


@pytest.mark.slow
@pytest.mark.usefixtures("app_argv")
@pytest.mark.parametrize("case", ["different architecture", "pickle without opt-in"])
def test_sidebar_names_the_problem_with_a_bad_pair_and_keeps_working(case, app_pair, other_architecture,
                                                                     tmp_path, monkeypatch):
    import torch

    if case == "different architecture":
        finetuned, message = other_architecture, "different architectures"
    else:
        finetuned, message = tmp_path / "model.pt", "model.pt"  # the reader words why; the app names the file
        torch.save(torch.nn.Linear(2, 2), finetuned)
    launch_with(monkeypatch, "--models-dir", shelve(tmp_path / "models", app_pair[0], finetuned))
    at = open_app("playground")
    at.radio(key="pair_source").set_value("files").run()
    at.selectbox(key="files_zs_file").set_value(Path(app_pair[0]).name)
    at.selectbox(key="files_ft_file").set_value(Path(finetuned).name).run()
    assert not at.exception
    assert any(message in e for e in sidebar_errors(at)), sidebar_errors(at)
    assert at.title[0].value == "Playground"


@pytest.mark.slow
@pytest.mark.usefixtures("app_argv")
def test_open_clip_source_builds_the_zero_shot_side_offline_from_a_model_name_and_a_listed_file(tmp_path,
                                                                                               monkeypatch):
    from wiseft_core import testing

    _, finetuned = testing.write_random_pair(tmp_path / "models")  # the tiny architecture, whatever the default
    launch_with(monkeypatch, "--models-dir", str(tmp_path / "models"))
    at = open_app("weights")
    at.radio(key="pair_source").set_value("openclip").run()
    at.selectbox(key="oc_model").set_value("wiseft-tiny-test").run()
    assert at.selectbox(key="oc_pretrained").options == ["none", "file: finetuned.safetensors",
                                                         "file: zeroshot.safetensors"]  # no free-text path
    at.selectbox(key="oc_ft_file").set_value("finetuned.safetensors").run()
    assert not at.exception and not at.sidebar.error
    context = at.session_state["_pair_context"]
    assert context.finetuned_path == str(finetuned) and context.zeroshot_command.startswith("wiseft zeroshot")
    assert any("wiseft-tiny-test" in plain(c.value) for c in at.sidebar.caption)


def sweep_csv() -> bytes:
    lines = ["model,finetuning,alpha,ensemble,dataset,role,top1,n"]
    for ensemble in ("weights", "outputs"):
        for alpha in (0.0, 0.5, 1.0):
            lines.append(f"tiny,end-to-end,{alpha},{ensemble},demo:photo,reference,{60 + 30 * alpha},100")
            lines.append(f"tiny,end-to-end,{alpha},{ensemble},demo:sketch,shift,{50 + 20 * alpha * (1 - alpha)},100")
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.slow
@pytest.mark.usefixtures("app_argv")
def test_curves_plots_a_users_sweep_csv_with_both_ensembles_and_offers_the_table_as_csv():
    at = open_app("curves")
    at.file_uploader(key="curves_upload").set_value(("my_sweep.csv", sweep_csv(), "text/csv")).run()
    assert not at.exception and not errors(at)
    assert at.multiselect(key="curves_sources").value[-1] == "upload: my_sweep.csv"
    names = {trace.get("name") for trace in figure(at)["data"]}
    assert "upload: my_sweep.csv · tiny · end-to-end · weights" in names
    assert any(name and name.endswith("· outputs") for name in names)
    table = at.dataframe[0].value
    mine = table[table["source"] == "upload: my_sweep.csv"]
    assert len(mine) == 6 and set(mine["demo:sketch"]) == {50.0, 55.0}
    at.selectbox(key="curves_shift").set_value("demo:sketch")
    at.radio(key="curves_axes").set_value("logit").run()
    assert not at.exception and any("logit scale" in text for text in strings(figure(at)))


@pytest.mark.slow
@pytest.mark.usefixtures("app_argv")
def test_gallery_shows_a_row_per_distribution_and_links_the_picked_samples_in_the_url(app_pair, tmp_path,
                                                                                      monkeypatch):
    from PIL import Image

    from wiseft_core.files.checkpoints import read_meta

    classnames = read_meta(app_pair[0]).classnames
    for distribution in ("photo", "v2", "sketch"):
        for i, label in enumerate(classnames[:2]):
            Image.new("RGB", (32, 32), (40 * i, 90, 160)).save(
                tmp_path / f"{distribution}_{i}_{label.replace(' ', '_')}.png")
    monkeypatch.setattr("wiseft_core.demo.assets.DEMO_SAMPLES", tmp_path)
    at = open_app("playground")
    assert not at.exception and not errors(at)
    first = classnames[0].replace(" ", "_")
    assert at.query_params["sample"] in (f"photo_0_{first},sketch_0_{first}", [f"photo_0_{first},sketch_0_{first}"])
    cards = [(image["name"], image["label_name"]) for image in live_data(at)["images"]]
    assert cards == [(f"photo: {classnames[0]}", classnames[0]), (f"sketch: {classnames[0]}", classnames[0])]
    assert at.pills(key="gallery_v2").options == [classnames[0], classnames[1]]
    at.pills(key="gallery_v2").set_value([f"v2_1_{classnames[1].replace(' ', '_')}"]).run()
    assert len(live_data(at)["images"]) == 3
    at.pills(key="gallery_photo").set_value([]).run()  # picks are read before the gallery is drawn
    assert [image["name"] for image in live_data(at)["images"]] == [f"v2: {classnames[1]}", f"sketch: {classnames[0]}"]
    assert at.query_params["sample"] in (f"v2_1_{classnames[1].replace(' ', '_')},sketch_0_{first}",
                                         [f"v2_1_{classnames[1].replace(' ', '_')},sketch_0_{first}"])


@pytest.mark.slow
@pytest.mark.usefixtures("app_argv")
def test_weights_page_says_only_the_head_differs_for_a_linear_classifier_pair(app_pair, tmp_path,
                                                                              monkeypatch):
    from wiseft_core.files.checkpoints import load_classifier, save_classifier

    zeroshot = load_classifier(app_pair[0])
    theta = zeroshot.model.state_dict()
    theta = {k: (v.flip(0) if k.startswith("head.weight") else v) for k, v in theta.items()}
    linear = tmp_path / "linear.safetensors"
    save_classifier(linear, theta, zeroshot.meta)
    launch_with(monkeypatch, "--models-dir", shelve(tmp_path / "models", app_pair[0], linear))
    at = open_app("weights")
    at.radio(key="pair_source").set_value("files").run()
    at.selectbox(key="files_zs_file").set_value(Path(app_pair[0]).name)
    at.selectbox(key="files_ft_file").set_value("linear.safetensors").run()
    assert not at.exception and not errors(at)
    assert any("Only the head differs" in s.value for s in at.success)


@pytest.mark.slow
@pytest.mark.usefixtures("app_argv")
def test_a_link_with_page_and_alpha_opens_that_page_at_that_alpha():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["page"] = "curves"
    at.query_params["alpha"] = "0.4"
    at.run()
    assert not at.exception
    assert at.title[0].value == "Accuracy vs robustness curves"
    assert any("current α = 0.40" in text for text in strings(figure(at)))


@pytest.mark.slow
@pytest.mark.usefixtures("app_argv")
def test_curves_reads_the_demo_sweep_again_when_the_file_is_rewritten(tmp_path, monkeypatch):
    sweep = tmp_path / "sweep.csv"
    sweep.write_bytes(sweep_csv())
    monkeypatch.setattr("wiseft_core.demo.assets.DEMO_SWEEP", sweep)
    at = open_app("curves")
    assert set(at.dataframe[0].value["model"]) == {"tiny"}
    sweep.write_bytes(sweep_csv().replace(b"tiny,", b"tiny-rerun,"))  # a new sweep lands in the same file
    at.run()
    assert not at.exception
    assert set(at.dataframe[0].value["model"]) == {"tiny-rerun"}
