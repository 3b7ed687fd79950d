"""The demo world's inspection assets: object masks from the generator, and the one-command build."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from wiseft_core.cli.dispatch import main as cli_main
from wiseft_core.data import world
from wiseft_core.demo.build import DEFAULT_OUT
from wiseft_core.demo.inspection import (
    FLIPS_FILE,
    INFO_FILE,
    LANDSCAPE_CSV,
    POINTING_CSV,
    image_and_mask,
    read_pointing,
)
from wiseft_core.inspection.flips import load_flips
from wiseft_core.inspection.landscape import read_csv


@pytest.mark.parametrize("distribution", world.DISTRIBUTIONS)
def test_object_mask_is_where_the_object_was_drawn_and_recording_changes_no_pixel(distribution):
    for index in range(4):
        image, label, mask = image_and_mask(distribution, "test", index)
        plain, plain_label = world.generate(distribution, "test", index)
        assert label == plain_label and image.tobytes() == plain.tobytes()
        assert mask.shape == (32, 32) and 0.02 < mask.mean() < 0.6
    # photos: the object is painted in a colour chosen to contrast with its background
    image, _, mask = image_and_mask("photo", "test", 1)
    pixels = np.asarray(image, dtype=np.float32)
    assert np.abs(pixels[mask].mean(axis=0) - pixels[~mask].mean(axis=0)).sum() > 60


@pytest.mark.skipif(not (DEFAULT_OUT / "finetuned.safetensors").is_file(), reason="demo pair not shipped")
def test_quick_inspection_build_writes_every_asset(tmp_path):
    for name in ("zeroshot.safetensors", "finetuned.safetensors"):
        shutil.copyfile(DEFAULT_OUT / name, tmp_path / name)
    assert cli_main(["demo", "inspect", "--quick", "--quiet", "--out", str(tmp_path)]) == 0  # the CLI's command
    folder = tmp_path / "inspection"
    info = json.loads((folder / INFO_FILE).read_text())
    rows = read_pointing(folder / POINTING_CSV)
    assert [(r["distribution"], r["alpha"]) for r in rows[:2]] == [("photo", 0.0), ("photo", 0.25)]
    assert len(rows) == 6 * 5 and all(r["n"] == 40 and 0 <= r["pointing"] <= 100 for r in rows)
    flips = load_flips(folder / FLIPS_FILE)
    assert len(flips.results) == 12 and flips.results[0].predictions.shape == (21, 40)
    paths = read_csv(folder / LANDSCAPE_CSV)
    assert {p.path for p in paths} == {"zero-shot to fine-tuned"}  # seed checkpoints are not made in quick mode
    assert info["quick"] is True
    assert list(info["paths"]) == ["zero-shot to fine-tuned"]


def test_a_leftover_fine_tune_of_another_recipe_is_not_put_on_the_landscape(tmp_path):
    from wiseft_core import testing
    from wiseft_core.demo.inspection import landscape_checkpoints

    zeroshot, finetuned = testing.write_random_pair(tmp_path / "pair")
    out, work = tmp_path / "out", tmp_path / "work"
    out.mkdir()
    work.mkdir()
    shutil.copy(zeroshot, out / "zeroshot.safetensors")
    shutil.copy(finetuned, out / "finetuned.safetensors")
    shutil.copy(finetuned, work / "finetuned_p0_s1.safetensors")  # no demo recipe recorded: not seed 1's fine-tune
    logs: list[str] = []
    paths = landscape_checkpoints(out, work, build_missing=False, quiet=True, log=logs.append, pretrain=False)
    assert list(paths) == ["zero-shot to fine-tuned"]
    assert any("fine-tune seeds 0 and 1" in line for line in logs)
