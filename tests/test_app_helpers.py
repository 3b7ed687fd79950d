"""Non-Streamlit helpers of the app: curve tables, reproducing commands, the gallery, timing, escaping."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import pytest
from PIL import Image

from wiseft_core import testing
from wiseft_core.demo.gallery import gallery_samples
from wiseft_core.engine.pair import load_pair
from wiseft_core.errors import WiseftError
from wiseft_core.evaluate.curve_rows import paper_curve_rows, shift_columns, sweep_curve_rows
from wiseft_core.files.checkpoints import checkpoint_bytes
from wiseft_core.serve.commands import interpolate_command
from wiseft_core.serve.markup import escape_markdown
from wiseft_core.serve.timer import timed


def test_paper_curves_become_summary_rows_with_imagenet_as_reference():
    rows = paper_curve_rows()
    assert len(rows) == 210
    row = next(r for r in rows if r["model"] == "CLIP ViT-L/14@336px" and r["finetuning"] == "end-to-end"
               and r["alpha"] == 0.5)
    assert row["reference"] == 86.8 and row["ImageNet-R"] == 89.4 and row["source"] == "paper"
    assert shift_columns(rows) == ["ImageNetV2", "ImageNet-R", "ImageNet-Sketch", "ObjectNet",
                                               "ImageNet-A"]


def test_sweep_csv_with_wrong_columns_names_what_is_missing():
    with pytest.raises(WiseftError, match="missing column\\(s\\) model, finetuning"):
        sweep_curve_rows(b"alpha,acc\n0,1\n", "mine")


def test_download_of_a_merge_is_byte_identical_to_wiseft_interpolate(tmp_path):
    zeroshot, finetuned = testing.write_random_pair(tmp_path / "pair")
    block_alphas = [("head", 1.0), ("block0", 0.2)]
    command = interpolate_command(str(zeroshot), str(finetuned), 0.4, block_alphas,
                                  out=str(tmp_path / "cli.safetensors"))
    argv = shlex.split(command)
    assert argv[:2] == ["wiseft", "interpolate"] and "--block-alpha" in argv
    result = subprocess.run([sys.executable, "-m", "wiseft_core", *argv[1:]], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    pair = load_pair(zeroshot, finetuned)
    app_bytes = checkpoint_bytes(*pair.merged_checkpoint(0.4, block_alphas))
    assert app_bytes == (tmp_path / "cli.safetensors").read_bytes()


def test_gallery_groups_samples_by_distribution_and_reads_the_label_from_the_name(tmp_path):
    (tmp_path / "sketch").mkdir()
    for name in ["photo_small_circle_0.png", "photo_large_semicircle_1.png", "sketch/small_star_0.png",
                 "adversarial_mystery.png"]:
        Image.new("RGB", (8, 8)).save(tmp_path / name)
    groups = gallery_samples(tmp_path, ["small circle", "large circle", "small semicircle",
                                        "large semicircle", "small star"])
    assert list(groups) == ["photo", "sketch", "adversarial"]
    assert [s.label for s in groups["photo"]] == ["large semicircle", "small circle"]
    assert groups["sketch"][0].label == "small star" and groups["adversarial"][0].label is None
    assert gallery_samples(tmp_path / "missing", []) == {}


def test_timed_reports_the_best_of_several_runs_in_milliseconds():
    result, ms = timed(lambda: 42, repeats=3)
    assert result == 42 and 0 <= ms < 50


@pytest.mark.parametrize("name", [
    "[log in](https://evil.example/x)", "**bold** _it_ `code`", "<img src=x onerror=alert(1)>", "$x^2$ :red[red]",
    "# heading\n- item", "www.evil.example & &amp;",
])
def test_names_from_files_become_literal_text_in_markdown(name):
    escaped = escape_markdown(name)
    for active in "[]()*_`<>$#:&":
        assert all(escaped[i - 1] == "\\" for i, ch in enumerate(escaped) if ch == active), escaped
    assert "\n" not in escaped
    unescaped = re.sub(r"\\(.)", r"\1", escaped)
    assert unescaped == " ".join(name.split())  # nothing lost: shown exactly as written


def test_an_ordinary_class_name_reads_the_same_after_escaping():
    assert escape_markdown("small circle") == "small circle"
