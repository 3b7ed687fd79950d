"""``wiseft demo build --quick`` and ``wiseft demo seeds --quick`` run end to end (tiny sizes; no findings)."""

import json
import shutil

import pytest

from wiseft_core.cli.dispatch import main
from wiseft_core.data import world
from wiseft_core.demo.build import CLIP_FILE, QUICK, reusable_clip
from wiseft_core.demo.pretrain import world_fingerprint
from wiseft_core.evaluate.results import read_sweep_csv
from wiseft_core.files.digests import file_sha256
from wiseft_core.files.reader import load_classifier


@pytest.mark.slow
def test_quick_build_then_seeds_write_a_pair_a_merged_seed_sweep_and_a_seed_report(tmp_path):
    work = tmp_path / "work"
    assert main(["demo", "build", "--quick", "--quiet", "--out", str(tmp_path), "--work", str(work)]) == 0

    for name in ("zeroshot", "finetuned", "finetuned_linear"):
        loaded = load_classifier(tmp_path / f"{name}.safetensors")
        assert loaded.meta.model_name == "demo-clip" and loaded.meta.classnames == world.CLASSNAMES
    rows = read_sweep_csv(tmp_path / "sweep.csv")
    keys = {(r["finetuning"], r["ensemble"], r["alpha"], r["dataset"], r["seed"]) for r in rows}
    main_rows = 2 * 2 * 3 * len(world.DISTRIBUTIONS)  # both fine-tunings and ensembles, alphas 0, 0.5, 1
    spread_rows = 1 * 1 * 3 * len(world.DISTRIBUTIONS)  # seed 1: end-to-end, weights only
    assert len(keys) == len(rows) == main_rows + spread_rows
    assert {r["seed"] for r in rows if r["finetuning"] == "linear classifier"} == {"0"}
    assert {r["seed"] for r in rows if r["ensemble"] == "weights" and r["finetuning"] == "end-to-end"} == {"0", "1"}
    assert {r["n"] for r in rows} == {100}  # the quick build's tiny test sets
    assert len(list((tmp_path / "samples").glob("*.png"))) == 5 * len(world.DISTRIBUTIONS)
    assert (tmp_path / "build.log").read_text().strip().endswith("s")
    info = json.loads((tmp_path / "build.json").read_text())
    assert info["world_fingerprint"] == world_fingerprint()
    assert info["look"] == json.loads(json.dumps(world.LOOK.to_dict()))
    assert world.DEFAULT_SIZES["test"] == 2000  # the quick sizes do not leak out of the build

    assert reusable_clip(tmp_path / CLIP_FILE, QUICK.pretrain) is None
    built_seed1 = (work / "finetuned_p0_s1.safetensors").stat().st_mtime_ns  # the build's spread seed
    code = main(["demo", "seeds", "--quick", "--quiet", "--out", str(tmp_path), "--work", str(work),
                 "--pretrain-seeds", "0,1", "--finetune-seeds", "1,3"])
    assert code == 0
    report = (tmp_path / "SEEDS.md").read_text()
    assert "| 0 | 3 | zero-shot |" in report and "| 1 | 3 | α = 0.5 |" in report
    assert (tmp_path / "pretrained_clip_seed1.safetensors").is_file()
    assert len((tmp_path / "seeds_val.csv").read_text().splitlines()) == 1 + 4 * 3
    # the build's own seed-1 fine-tune was reused, not made again; a second run reuses what the first made
    assert (work / "finetuned_p0_s1.safetensors").stat().st_mtime_ns == built_seed1
    stamps = {p: (work / f"finetuned_p{p}_s3.safetensors").stat().st_mtime_ns for p in (0, 1)}
    shipped_head = file_sha256(tmp_path / "zeroshot.safetensors")
    shutil.copy(work / "zeroshot_p1.safetensors", tmp_path / "zeroshot.safetensors")  # another CLIP's head
    assert main(["demo", "seeds", "--quick", "--quiet", "--out", str(tmp_path), "--work", str(work),
                 "--pretrain-seeds", "0,1", "--finetune-seeds", "3"]) == 0
    assert file_sha256(tmp_path / "zeroshot.safetensors") == shipped_head  # rebuilt from the shipped CLIP
    assert {p: (work / f"finetuned_p{p}_s3.safetensors").stat().st_mtime_ns for p in (0, 1)} == stamps

    # After changing only the shift generators, a rebuild keeps every checkpoint and only sweeps again.
    kept = {name: (tmp_path / name).stat().st_mtime_ns for name in
            ("zeroshot.safetensors", "finetuned.safetensors", "finetuned_linear.safetensors")}
    assert main(["demo", "build", "--quick", "--quiet", "--out", str(tmp_path), "--work", str(work),
                 "--reuse-pretrained", "--reuse-finetuned", "--threads", "1", "--inspect"]) == 0
    assert {name: (tmp_path / name).stat().st_mtime_ns for name in kept} == kept
    assert (tmp_path / "inspection" / "landscape.csv").is_file()  # --inspect chained `wiseft demo inspect`
    assert "keeping finetuned.safetensors" in (tmp_path / "build.log").read_text()
    assert len(read_sweep_csv(tmp_path / "sweep.csv")) == main_rows + spread_rows


def test_a_pretrained_clip_from_another_recipe_or_world_is_not_reused(tmp_path, monkeypatch):
    from wiseft_core.demo import build
    from wiseft_core.demo.model_config import MODEL_NAME, register
    from wiseft_core.files.models import create_clip

    clip_model, config, _ = create_clip(MODEL_NAME, None, seed=0, model_config=register())
    info = {"model_config": config, "pretrain": QUICK.pretrain.to_dict(), "world_fingerprint": world_fingerprint()}
    path = tmp_path / CLIP_FILE
    build.save_clip(path, clip_model, info)
    assert reusable_clip(path, QUICK.pretrain) is None
    assert reusable_clip(path, build.FULL.pretrain) == "pretrained with another recipe"
    monkeypatch.setattr(build, "world_fingerprint", lambda: "0123456789abcdef")  # the pretraining world changed
    assert "another world" in reusable_clip(path, QUICK.pretrain)
    assert reusable_clip(tmp_path / "missing.safetensors", QUICK.pretrain) == "not found"


def test_pretraining_and_fine_tuning_give_the_same_weights_whatever_the_thread_count(tmp_path):
    """A rebuild must reproduce the shipped models: float sums depend on how many threads split them."""
    import dataclasses

    import torch

    from wiseft_core.demo import build
    from wiseft_core.demo.build import load_clip, pretrain_clip, run_finetune

    recipe = dataclasses.replace(QUICK, pretrain=dataclasses.replace(QUICK.pretrain, pairs=512, steps=12))
    weights = []
    before = torch.get_num_threads()
    with world.default_sizes(**QUICK.split_sizes):
        for threads in (1, 2):
            torch.set_num_threads(threads)
            out = tmp_path / f"threads{threads}"
            out.mkdir()
            pretrain_clip(recipe, out / CLIP_FILE, lambda message: None)
            build.build_zeroshot(recipe, out, lambda message: None, reuse=True)
            zeroshot, finetuned = out / "zeroshot.safetensors", out / "ft.safetensors"
            run_finetune("end-to-end", QUICK.end_to_end, zeroshot, finetuned, out, True)
            assert torch.get_num_threads() == threads  # restored after training
            clip = load_clip(out / CLIP_FILE)[0].state_dict()
            weights.append((clip, load_classifier(finetuned).model.state_dict()))
    torch.set_num_threads(before)
    for one, two in zip(weights[0], weights[1]):
        assert all(torch.equal(one[key], two[key]) for key in one)
