"""Served to a room: no unpickling by viewers, no server paths, private uploads, names shown as text."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import torch
from app_pair import APP, launch_with, open_app, plain, png_bytes, shelve

from wiseft_core import testing

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("app_argv")]


class Exploit:
    """Unpickling this runs ``touch MARKER`` (what a hostile ``.pt`` does)."""

    marker = ""

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


def hostile_pickle(folder: Path) -> tuple[Path, Path]:
    marker = folder / "pwned"
    Exploit.marker = str(marker)
    path = folder / "model.pt"
    torch.save({"state_dict": Exploit()}, path)
    return path, marker


@pytest.fixture
def trust_seen(monkeypatch) -> list[bool]:
    """The ``trust_pickle`` each pair load was given (the reader's own behaviour is tested with it)."""
    from wiseft_core.engine import pair

    seen: list[bool] = []
    real = pair.load_pair

    def spy(*args, trust_pickle: bool = False, **kwargs):
        seen.append(trust_pickle)
        return real(*args, trust_pickle=trust_pickle, **kwargs)

    monkeypatch.setattr(pair, "load_pair", spy)
    return seen


def test_no_widget_can_enable_unpickling_and_there_is_no_free_text_path_anywhere():
    at = open_app()
    assert not [c for c in at.sidebar.checkbox if "pickle" in c.label.lower()]
    at.radio(key="pair_source").set_value("files").run()
    assert not at.text_input  # checkpoints come from the operator's list or an upload
    at.radio(key="pair_source").set_value("openclip").run()
    assert not at.text_input
    assert not [w for w in at.sidebar.warning if "trust-pickle" in w.value]


def test_an_uploaded_hostile_pickle_never_runs_even_when_the_operator_trusts_pickles(app_pair, tmp_path,
                                                                                   monkeypatch, trust_seen):
    path, marker = hostile_pickle(tmp_path)
    launch_with(monkeypatch, "--trust-pickle")
    at = open_app()
    assert any("--trust-pickle" in w.value for w in at.sidebar.warning)  # the sidebar says so
    at.radio(key="pair_source").set_value("files").run()
    at.file_uploader(key="files_zs_upload").set_value(("zs.safetensors", Path(app_pair[0]).read_bytes(),
                                                       "application/octet-stream"))
    at.file_uploader(key="files_ft_upload").set_value(("model.pt", path.read_bytes(),
                                                       "application/octet-stream")).run()
    assert not at.exception
    assert not marker.exists() and trust_seen[-1] is False  # the first load was the default (demo) pair
    errors = [plain(e.value) for e in at.sidebar.error]
    assert any(e.startswith("model.pt") for e in errors), errors
    assert not any("wiseft-uploads-" in e for e in errors)  # the server's temp path is not shown


def test_the_operators_flag_trusts_pickles_from_the_models_folder_only(app_pair, tmp_path, monkeypatch,
                                                                      trust_seen):
    path, _ = hostile_pickle(tmp_path)
    launch_with(monkeypatch, "--trust-pickle", "--models-dir", shelve(tmp_path / "models", app_pair[0], path))
    at = open_app()
    at.radio(key="pair_source").set_value("files").run()
    at.selectbox(key="files_zs_file").set_value(Path(app_pair[0]).name)
    at.selectbox(key="files_ft_file").set_value("model.pt").run()
    assert not at.exception
    assert trust_seen[-1] is True  # the operator's decision, for the operator's files


def test_uploaded_checkpoints_load_from_a_private_per_session_folder(app_pair):
    sessions = []
    for _ in range(2):
        at = open_app()
        at.radio(key="pair_source").set_value("files").run()
        for key, path in (("files_zs_upload", app_pair[0]), ("files_ft_upload", app_pair[1])):
            at.file_uploader(key=key).set_value((Path(path).name, Path(path).read_bytes(), "application/octet-stream"))
        at.run()
        assert not at.exception and not at.sidebar.error, [e.value for e in at.sidebar.error]
        sessions.append(at)
    folders = [Path(at.session_state["_pair_context"].finetuned_path).parent for at in sessions]
    assert folders[0] != folders[1]
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o700 for f in folders)
    assert sessions[0].session_state["_pair_context"].finetuned_name == Path(app_pair[1]).name


def test_class_and_model_names_from_a_checkpoint_are_shown_as_text_not_markup(tmp_path, monkeypatch):
    names = ["[log in](https://evil.example/x)", "**loud**", "<b>bold</b>", ":red[alarm]"] + \
        [f"class {i}" for i in range(6)]
    zeroshot, finetuned = testing.write_random_pair(tmp_path / "pair", classnames=names)
    launch_with(monkeypatch, "--zeroshot", str(zeroshot), "--finetuned", str(finetuned))
    at = open_app("playground")
    at.file_uploader(key="images_upload").set_value(("[x](https://evil.example).png", png_bytes(), "image/png"))
    at.run()
    assert not at.exception
    data = json.loads(at.get("bidi_component")[0].proto.json)[0]  # drawn in the browser with textContent
    assert data["images"][0]["name"] == "[x](https://evil.example).png"
    assert set(data["classnames"].values()) <= set(names)
    script = (Path(APP).parent / "app_pages" / "live_slider.js").read_text()
    assert "innerHTML" not in script and "textContent" in script  # so these strings stay text
    caption = [c.value for c in at.sidebar.caption if "parameters" in c.value][0]
    assert "wiseft\\-tiny\\-test" in caption  # Markdown elsewhere is escaped


def test_a_sessions_uploads_are_deleted_when_the_session_goes_away(app_pair):  # noqa: F811
    import gc

    at = open_app()
    at.radio(key="pair_source").set_value("files").run()
    for key, path in (("files_zs_upload", app_pair[0]), ("files_ft_upload", app_pair[1])):
        at.file_uploader(key=key).set_value((Path(path).name, Path(path).read_bytes(), "application/octet-stream"))
    at.run()
    folder = Path(at.session_state["_pair_context"].finetuned_path).parent
    assert folder.is_dir() and len(list(folder.iterdir())) == 2
    del at  # Streamlit drops a session's state when the session ends
    gc.collect()
    assert not folder.exists()
