"""The Flips and Landscape pages through Streamlit's AppTest on the default pair."""

from __future__ import annotations

import threading
import time

import pytest
from app_pair import APP, launch_with, plain
from PIL import Image
from streamlit.testing.v1 import AppTest

from wiseft_core.demo.assets import DEMO_INSPECTION, FLIPS_FILE, LANDSCAPE_CSV

TIMEOUT = 180
INSPECTION = DEMO_INSPECTION


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def data_dir(app_argv, tmp_path, monkeypatch):
    """An operator's ``--data-dir`` holding ``list.csv``: six small images with labels 0..5."""
    folder = tmp_path / "shelf"
    folder.mkdir()
    rows = ["path,label"]
    for i in range(6):
        Image.new("RGB", (32, 32), (40 * i, 200 - 30 * i, 90)).save(folder / f"im{i}.png")
        rows.append(f"im{i}.png,{i}")
    (folder / "list.csv").write_text("\n".join(rows) + "\n")
    launch_with(monkeypatch, "--data-dir", str(folder))
    return folder


@pytest.fixture
def labelled_csv(data_dir) -> str:
    """The spec of ``list.csv``; the viewer picks it by its listed name, ``shelf/list.csv``."""
    return f"csv={(data_dir / 'list.csv').resolve()}"


def finish_job(at: AppTest, cancel_key: str) -> AppTest:
    """Rerun the page (as its polling fragment would) until the session's job has finished."""
    for _ in range(TIMEOUT * 4):
        if not any(b.key == cancel_key for b in at.button):
            break
        time.sleep(0.25)
        at.run()
    assert not any(b.key == cancel_key for b in at.button), "the job did not finish"
    return at


def metrics(at: AppTest) -> dict[str, int]:
    return {m.label: int(m.value) for m in at.metric}


def test_flips_page_computes_the_six_groups_for_a_users_labelled_csv(app_argv, labelled_csv):
    at = open_page("flips")
    at.selectbox(key="flips_spec").set_value("shelf/list.csv")
    at.selectbox(key="flips_step").set_value(0.25)
    at.button[0].click().run()
    finish_job(at, "flips_job_cancel")
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    at.selectbox(key="flips_distribution").set_value(labelled_csv).run()
    counts = metrics(at)
    assert list(counts) == ["both right", "only zero-shot right", "only fine-tuned right", "both wrong", "rescued",
                            "lost"]
    assert sum(list(counts.values())[:4]) == 6
    at.select_slider(key="flips_alpha").set_value(0.75).run()
    assert not at.exception
    assert sum(list(metrics(at).values())[:4]) == 6


@pytest.mark.skipif(not (INSPECTION / FLIPS_FILE).is_file(), reason="demo inspection assets not built")
def test_flips_page_opens_on_the_demo_pairs_precomputed_predictions(app_argv):
    at = open_page("flips")
    if at.selectbox(key="flips_distribution") is None:
        pytest.skip("the default pair is not the one the assets were measured on")
    from wiseft_core.inspection.flips import load_flips

    shown = load_flips(INSPECTION / FLIPS_FILE).get(at.selectbox(key="flips_distribution").value)
    counts = metrics(at)
    assert sum(list(counts.values())[:4]) == shown.n  # the four endpoint groups partition the readable images


def test_flips_page_names_a_bad_dataset(data_dir):
    (data_dir / "broken.csv").write_bytes(b"path,label\n\xff\xfe.png,0\n")
    at = open_page("flips")
    at.selectbox(key="flips_spec").set_value("shelf/broken.csv")
    at.button[0].click().run()
    finish_job(at, "flips_job_cancel")
    assert not at.exception
    assert any("broken.csv" in plain(e.value) for e in at.error), [e.value for e in at.error]


def test_viewers_pick_datasets_from_the_demo_world_and_the_operators_folders_never_a_typed_path(data_dir):
    (data_dir / "escape").symlink_to("/etc")
    for page, key in (("flips", "flips_spec"), ("landscape", "landscape_spec")):
        at = open_page(page)
        assert not at.text_input, "no free-text dataset paths"
        options = at.selectbox(key=key).options
        assert "shelf/list.csv" in options and "demo:sketch" in options
        assert "shelf/escape" not in options and not any(o.startswith(("folder=", "csv=")) for o in options)


@pytest.mark.skipif(not (INSPECTION / LANDSCAPE_CSV).is_file(), reason="demo inspection assets not built")
def test_landscape_page_shows_each_demo_path_with_its_barrier(app_argv):
    at = open_page("landscape")
    paths = {row for row in at.dataframe[0].value["path"]}
    assert "zero-shot to fine-tuned" in paths
    assert all(b >= 0 for b in at.dataframe[0].value["loss barrier"])


def test_landscape_page_measures_the_loaded_pair_on_a_users_dataset(app_argv, labelled_csv):
    at = open_page("landscape")
    at.selectbox(key="landscape_spec").set_value("shelf/list.csv")
    at.selectbox(key="landscape_step").set_value(0.25)
    at.button[0].click().run()
    finish_job(at, "landscape_job_cancel")
    assert not at.exception and not at.error, [e.value for e in at.error]
    table = at.dataframe[-1].value
    assert list(table["path"]) == ["your pair"]
    assert table["loss barrier"][0] >= 0 and table["error barrier (pp)"][0] >= 0


def progress_texts(at: AppTest) -> list[str]:
    return [plain(p.proto.text) for p in at.get("progress")]


def test_a_page_shows_its_place_in_a_busy_room_then_its_progress_then_the_result(app_argv, labelled_csv):
    from app_pages.room_jobs import job_queue

    queue = job_queue()
    release = threading.Event()
    queue.submit("another viewer", "Landscape", lambda job: release.wait(TIMEOUT))
    queue.submit("a third viewer", "Flips", lambda job: None)
    at = open_page("flips")
    at.selectbox(key="flips_spec").set_value("shelf/list.csv")
    at.selectbox(key="flips_step").set_value(0.25)
    at.button[0].click().run()
    assert progress_texts(at) == ["The room is busy: you are 2nd in line for Flips."]
    release.set()
    seen = []
    for _ in range(TIMEOUT * 4):
        at.run()
        seen += progress_texts(at)
        if not any(b.key == "flips_job_cancel" for b in at.button):
            break
        time.sleep(0.1)
    assert any(text.startswith("Flips: ") or "1st in line" in text for text in seen), seen
    assert not at.exception and not at.error
    assert sum(list(metrics(at).values())[:4]) == 6


def test_a_viewer_can_cancel_a_waiting_computation(app_argv, labelled_csv):
    from app_pages.room_jobs import job_queue

    release = threading.Event()
    job_queue().submit("another viewer", "Landscape", lambda job: release.wait(TIMEOUT))
    try:
        at = open_page("landscape")
        at.selectbox(key="landscape_spec").set_value("shelf/list.csv")
        at.button[0].click().run()
        assert progress_texts(at) == ["The room is busy: you are 1st in line for Landscape."]
        at.button(key="landscape_job_cancel").click().run()
        assert not at.get("progress") and [plain(i.value) for i in at.info][-1] == "Landscape: cancelled by you"
    finally:
        release.set()


def test_a_link_opens_images_only_from_datasets_the_operator_offers(app_argv, labelled_csv, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    Image.new("RGB", (32, 32)).save(outside / "x.png")
    (outside / "list.csv").write_text("path,label\nx.png,0\n")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["page"] = "playground"
    at.query_params["image"] = f"{labelled_csv}#2,csv={outside / 'list.csv'}#0"
    at.run()
    assert not at.exception, at.exception
    warnings = [plain(w.value) for w in at.warning]
    assert any("elsewhere/list.csv" in w and "is not one this app has loaded" in w for w in warnings), warnings
    assert not any("shelf/list.csv" in w for w in warnings), warnings
