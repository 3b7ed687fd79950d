"""A wise-ft checkpoint stores no class names: a viewer picks or uploads a class-name file instead of a CLI flag."""

from __future__ import annotations

import sys

import pytest
import wiseft_reference as ref
from app_pair import APP, plain
from streamlit.testing.v1 import AppTest

from wiseft_core.errors import WiseftError
from wiseft_core.files.zeroshot import parse_classnames
from wiseft_core.serve.app_launch import LaunchOptions, classname_files

CLASSES = ["cat", "dog", "bird", "fish", "horse"]
TIMEOUT = 120


def test_class_names_are_read_strictly_as_utf8_one_a_line_and_bounded():
    assert parse_classnames("\ufeffcat\n# a comment\n\n dog \nbird\n".encode(), "n.txt") == ["cat", "dog", "bird"]
    with pytest.raises(WiseftError, match=r"^n.txt: not UTF-8 text \(byte 3\)"):
        parse_classnames(b"cat\xff\ndog", "n.txt")
    with pytest.raises(WiseftError, match="^n.txt: no class names"):
        parse_classnames(b"# only a comment\n\n", "n.txt")
    with pytest.raises(WiseftError, match="^n.txt: class name 2 is longer than 1000 characters"):
        parse_classnames(b"cat\n" + b"x" * 1001, "n.txt")


def test_only_text_files_inside_the_models_folders_are_offered_never_through_links(tmp_path):
    models = tmp_path / "models"
    (models / "sub").mkdir(parents=True)
    (models / "names.txt").write_text("a\n")
    (models / "sub" / "more.txt").write_text("b\n")
    (models / "zs.pt").write_bytes(b"x")
    (tmp_path / "secret.txt").write_text("s\n")
    (models / "link.txt").symlink_to(tmp_path / "secret.txt")
    assert set(classname_files(LaunchOptions(models_dirs=(str(models),)))) == {"names.txt", "sub/more.txt"}


@pytest.fixture
def wiseft_models(tmp_path, monkeypatch):
    """An operator's folder holding a 5-class wise-ft pair (no class names stored) and a class-name file."""
    models = tmp_path / "models"
    models.mkdir()
    zeroshot = ref.zeroshot_classifier(ref.TINY_VIT, len(CLASSES), seed=0)
    ref.save_raw_pickle(zeroshot, models / "zeroshot.pt")
    ref.save_raw_pickle(ref.finetuned_from(zeroshot, seed=1), models / "finetuned.pt")
    (models / "animals.txt").write_text("\n".join(CLASSES) + "\n")
    monkeypatch.setattr(sys, "argv", ["app.py", "--models-dir", str(models)])
    return models


def choose_pair(at: AppTest) -> AppTest:
    at.sidebar.radio(key="pair_source").set_value("files").run()
    at.sidebar.selectbox(key="files_zs_file").set_value("zeroshot.pt").run()
    return at.sidebar.selectbox(key="files_ft_file").set_value("finetuned.pt").run()


@pytest.mark.slow
@pytest.mark.usefixtures("wiseft_models")
def test_a_viewer_is_asked_for_class_names_in_the_app_and_can_pick_or_upload_them():
    at = choose_pair(AppTest.from_file(APP, default_timeout=TIMEOUT).run())
    assert not at.exception, at.exception
    errors = [plain(e.value) for e in at.sidebar.error]
    assert errors == ["zeroshot.pt has a 5-class head and wise-ft files store no class names: choose or upload "
                      "its class names under “Class names” below"], errors
    at.sidebar.selectbox(key="classnames_file").set_value("animals.txt").run()
    assert not at.exception and not at.sidebar.error, [e.value for e in at.sidebar.error]
    assert at.session_state["_pair_context"].pair.classnames == CLASSES
    at.sidebar.selectbox(key="classnames_file").set_value("(none)").run()
    upload = ("mine.txt", "\n".join(c.upper() for c in CLASSES).encode(), "text/plain")
    at.sidebar.file_uploader(key="classnames_upload").set_value(upload).run()
    assert not at.exception and not at.sidebar.error, [e.value for e in at.sidebar.error]
    assert at.session_state["_pair_context"].pair.classnames == [c.upper() for c in CLASSES]


@pytest.mark.slow
@pytest.mark.usefixtures("wiseft_models")
def test_a_bad_class_name_upload_gets_one_line_and_keeps_the_loaded_pair():
    at = choose_pair(AppTest.from_file(APP, default_timeout=TIMEOUT).run())
    at.sidebar.selectbox(key="classnames_file").set_value("animals.txt").run()
    at.sidebar.file_uploader(key="classnames_upload").set_value(("bad.txt", b"\xff\xfe\x00", "text/plain")).run()
    assert not at.exception
    assert [plain(e.value) for e in at.sidebar.error] == [
        "bad.txt: not UTF-8 text (byte 0); save it as UTF-8, one class name a line"]
    assert at.session_state["_pair_context"].pair.classnames == CLASSES
    at.sidebar.file_uploader(key="classnames_upload").set_value(("four.txt", b"a\nb\nc\nd\n", "text/plain")).run()
    assert any("5-class head but 4 class names" in plain(e.value) for e in at.sidebar.error)
    assert at.session_state["_pair_context"].pair.classnames == CLASSES
