"""What only the operator decides at launch: trust in pickles, the model folders, the listening address."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import tomllib

from wiseft_core.errors import WiseftError
from wiseft_core.serve.app_launch import (
    LaunchOptions,
    default_threads,
    model_files,
    parse_launch_args,
    resolve_model_file,
)

REPO = Path(__file__).resolve().parent.parent


def test_launch_options_are_read_after_streamlits_own_arguments():
    options = parse_launch_args(["--zeroshot", "a.safetensors", "--finetuned", "b.safetensors", "--device", "cuda",
                                 "--unrelated", "x"])
    assert options == LaunchOptions("a.safetensors", "b.safetensors", "cuda")
    assert parse_launch_args([]) == LaunchOptions()
    assert parse_launch_args(["--threads", "3"]).threads == 3


def test_pickles_are_trusted_only_with_the_operators_flag_and_model_folders_repeat():
    assert parse_launch_args([]).trust_pickle is False
    options = parse_launch_args(["--trust-pickle", "--models-dir", "/a", "--models-dir", "/b"])
    assert options.trust_pickle is True and options.models_dirs == ("/a", "/b")


def test_the_operator_sets_how_many_viewer_computations_run_at_once_default_one():
    assert parse_launch_args([]).job_workers == 1
    assert parse_launch_args(["--job-workers", "3"]).job_workers == 3
    assert parse_launch_args(["--job-workers", "0"]).job_workers == 1  # at least one, or nothing would ever run


def test_app_uses_half_the_cores_for_a_prediction_so_viewers_do_not_oversubscribe_them():
    assert [default_threads(n) for n in (1, 2, 4, 16)] == [1, 1, 2, 8]


def shelf(tmp_path: Path) -> Path:
    models = tmp_path / "models"
    (models / "vit").mkdir(parents=True)
    (models / "zs.safetensors").write_bytes(b"x")
    (models / "vit" / "ft.pt").write_bytes(b"y")
    (models / "notes.txt").write_text("not a checkpoint")
    secret = tmp_path / "secret.safetensors"
    secret.write_bytes(b"s")
    os.symlink(secret, models / "link.safetensors")  # a link may point anywhere: never listed
    os.symlink(tmp_path, models / "escape")  # nor a linked folder
    return models


def test_viewers_see_only_checkpoints_inside_the_models_folders_by_relative_name(tmp_path):
    models = shelf(tmp_path)
    files = model_files(LaunchOptions(models_dirs=(str(models),)))
    assert sorted(files) == ["vit/ft.pt", "zs.safetensors"]
    assert resolve_model_file("vit/ft.pt", LaunchOptions(models_dirs=(str(models),))) == (models / "vit" / "ft.pt")


def test_the_launch_pair_is_listed_by_file_name_and_two_folders_are_prefixed(tmp_path):
    models = shelf(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    (other / "zs.safetensors").write_bytes(b"z")
    launch = tmp_path / "secret.safetensors"
    files = model_files(LaunchOptions(zeroshot=str(launch), models_dirs=(str(models), str(other))))
    assert sorted(files) == ["models/vit/ft.pt", "models/zs.safetensors", "other/zs.safetensors",
                             "secret.safetensors"]


@pytest.mark.parametrize("name", ["/etc/shadow", "/etc/does-not-exist", "../secret.safetensors",
                                  "link.safetensors", "escape/secret.safetensors", "notes.txt"])
def test_a_name_outside_the_folders_gets_the_same_message_whether_or_not_it_exists(tmp_path, name):
    options = LaunchOptions(models_dirs=(str(shelf(tmp_path)),))
    with pytest.raises(WiseftError) as caught:
        resolve_model_file(name, options)
    assert str(caught.value) == f"{name!r} is not one of the checkpoints this app was started with"


def test_the_server_listens_on_this_machine_only_and_never_shows_tracebacks_by_default():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"
    assert config["client"]["showErrorDetails"] == "none"  # `false` is the deprecated alias of "stacktrace"
