import dataclasses
import json

import pytest
import torch
from conftest import TINY_RESNET, make_classifier
from wiseft_test_data import image_folder

from wiseft_core.cli.dispatch import build_parser, main
from wiseft_core.cli.train import DATASET_HELP
from wiseft_core.data import world
from wiseft_core.data.datasets import PATH_KINDS
from wiseft_core.data.world import DISTRIBUTIONS
from wiseft_core.engine.pair import load_pair
from wiseft_core.errors import WiseftError
from wiseft_core.files.checkpoints import file_sha256, load_classifier, read_meta, save_classifier
from wiseft_core.train import finetune as ft
from wiseft_core.train.finetune import FinetuneConfig, cosine_lr, finetune


@pytest.fixture(scope="module")
def train_spec(tmp_path_factory, tiny_vit):
    _, meta, _ = tiny_vit
    return f"folder={image_folder(tmp_path_factory.mktemp('train'), meta.classnames, per_class=4, seed=7)}"


def config(zs, train, out, **overrides) -> FinetuneConfig:
    base = dict(zeroshot=str(zs), train=train, out=str(out), steps=5, warmup=2, batch_size=8, lr=1e-3,
                progress=False)
    return FinetuneConfig(**{**base, **overrides})


def state(path):
    return load_classifier(path).model.state_dict()


def test_cosine_schedule_warms_up_linearly_then_decays_to_zero():
    assert cosine_lr(0, 1.0, warmup=4, total=10) == 0.25
    assert cosine_lr(3, 1.0, warmup=4, total=10) == 1.0
    assert cosine_lr(4, 1.0, warmup=4, total=10) == 1.0
    assert cosine_lr(7, 1.0, warmup=4, total=10) == pytest.approx(0.5)
    assert cosine_lr(10, 1.0, warmup=4, total=10) == pytest.approx(0.0)


def test_end_to_end_finetune_keeps_the_metadata_and_records_the_recipe(tmp_path, tiny_pair_files, train_spec):
    zs, _, meta = tiny_pair_files
    final = finetune(config(zs, train_spec, tmp_path / "run", label_smoothing=0.1))
    saved = read_meta(final)
    assert (saved.model_name, saved.classnames, saved.preprocessing) == (meta.model_name, meta.classnames,
                                                                         meta.preprocessing)
    recipe = saved.recipe
    assert recipe["finetuning"] == "end-to-end" and recipe["zeroshot_sha256"] == file_sha256(zs)
    assert (recipe["lr"], recipe["wd"], recipe["betas"], recipe["label_smoothing"]) == (1e-3, 0.1, [0.9, 0.999], 0.1)
    assert recipe["total_steps"] == 5 and recipe["steps_per_epoch"] == 2 and recipe["precision"] == "fp32"
    # 5 steps at 2 per epoch: epochs 1, 2 and the partial third are checkpointed.
    assert sorted(p.name for p in (tmp_path / "run").glob("epoch_*")) == [f"epoch_00{i}.safetensors" for i in (1, 2, 3)]
    before, after = state(zs), state(final)
    assert not torch.equal(before["image_encoder.conv1.weight"], after["image_encoder.conv1.weight"])
    assert not torch.equal(before["head.weight"], after["head.weight"])
    log = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert log[0]["event"] == "start" and log[-1]["event"] == "done"
    assert [r["epoch"] for r in log if r["event"] == "epoch"] == [1, 2, 3]
    assert all(r["loss"] > 0 and r["img_per_s"] > 0 for r in log if r["event"] == "step")


def kill_after_first_epoch(monkeypatch, run) -> None:
    original = ft._save_epoch

    def killed_after_first_epoch(*args, **kwargs):
        original(*args, **kwargs)
        if args[3] == 1:  # the epoch number
            raise KeyboardInterrupt

    monkeypatch.setattr(ft, "_save_epoch", killed_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        run()
    monkeypatch.setattr(ft, "_save_epoch", original)


@pytest.mark.parametrize("save_dtype", ["float32", "float16"])
def test_resume_after_a_kill_reproduces_the_uninterrupted_run(tmp_path, tiny_pair_files, train_spec, monkeypatch,
                                                              save_dtype):
    zs, _, _ = tiny_pair_files
    reference = finetune(config(zs, train_spec, tmp_path / "full", save_dtype=save_dtype))
    kill_after_first_epoch(monkeypatch, lambda: finetune(config(zs, train_spec, tmp_path / "killed",
                                                                save_dtype=save_dtype)))
    assert not (tmp_path / "killed" / "finetuned.safetensors").exists()
    with pytest.raises(WiseftError, match="pass --resume"):
        finetune(config(zs, train_spec, tmp_path / "killed", save_dtype=save_dtype))
    with pytest.raises(WiseftError, match="lr differ"):
        finetune(config(zs, train_spec, tmp_path / "killed", lr=2e-3, resume=True, save_dtype=save_dtype))
    resumed = finetune(config(zs, train_spec, tmp_path / "killed", resume=True, save_dtype=save_dtype))
    expected, actual = state(reference), state(resumed)
    for key in expected:  # a float16 epoch file is rounded; the resume starts from the exact weights
        torch.testing.assert_close(actual[key], expected[key], rtol=0, atol=0)
    log = (tmp_path / "killed" / "train_log.jsonl").read_text()
    assert '"resumed_from_epoch": 1' in log


def test_resume_with_another_zeroshot_checkpoint_is_refused(tmp_path, tiny_pair_files, train_spec, monkeypatch):
    zs, other, _ = tiny_pair_files
    kill_after_first_epoch(monkeypatch, lambda: finetune(config(zs, train_spec, tmp_path / "run")))
    expected = (f"--zeroshot {other} \\(sha256 {file_sha256(other)[:12]}\\) is not the checkpoint the run in .* "
                f"started from \\(sha256 {file_sha256(zs)[:12]}")
    with pytest.raises(WiseftError, match=expected):
        finetune(config(other, train_spec, tmp_path / "run", resume=True))
    assert not (tmp_path / "run" / "finetuned.safetensors").exists()


@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--epochs", "0", "--epochs 0: must be at least 1"),
    ("--steps", "0", "--steps 0: must be at least 1"),
    ("--batch-size", "0", "--batch-size 0: must be at least 1"),
    ("--lr", "nan", "--lr nan: must be a finite number greater than 0"),
    ("--lr", "-1e-3", "--lr -0.001: must be a finite number greater than 0"),
    ("--wd", "inf", "--wd inf: must be a finite number at least 0"),
    ("--label-smoothing", "1", "--label-smoothing 1.0: must be a finite number at least 0 and less than 1"),
    ("--grad-clip", "0", "--grad-clip 0.0: must be a finite number greater than 0"),
    ("--warmup", "-1", "--warmup -1: must be at least 0"),
    ("--keep-epochs", "-2", "--keep-epochs -2: must be at least 0"),
])
def test_finetune_options_out_of_range_exit_2_with_one_line(tmp_path, tiny_pair_files, capsys, flag, value, message):
    zs, _, _ = tiny_pair_files
    argv = ["finetune", "--zeroshot", str(zs), "--train", "folder=/nowhere", "--out", str(tmp_path / "run"),
            f"{flag}={value}", "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == f"wiseft: error: {message}\n"
    assert not (tmp_path / "run").exists()


def test_linear_mode_trains_only_the_head_from_cached_features(tmp_path, tiny_pair_files, train_spec):
    zs, _, _ = tiny_pair_files
    out = tmp_path / "lc"
    final = finetune(config(zs, train_spec, out, mode="linear", steps=None, epochs=3, lr=1e-2))
    assert read_meta(final).recipe["finetuning"] == "linear classifier"
    assert (out / ft.FEATURES_FILE).is_file()
    pair = load_pair(zs, final)
    assert pair.differs_only_in_head()
    assert not torch.equal(state(zs)["head.weight"], state(final)["head.weight"])
    # A second run reuses the cached features (no dataset pass): same result.
    (out / ft.STATE_FILE).unlink()
    (out / ft.FINAL_FILE).unlink()
    again = finetune(config(zs, train_spec, out, mode="linear", steps=None, epochs=3, lr=1e-2))
    torch.testing.assert_close(state(again), state(final), rtol=0, atol=0)


def test_batchnorm_train_mode_updates_statistics_and_frozen_mode_keeps_them(tmp_path, train_spec):
    classifier, meta, _ = make_classifier("wiseft-test-rn", TINY_RESNET, seed=0)
    zs = tmp_path / "rn.safetensors"
    save_classifier(zs, classifier, meta)
    stats = "image_encoder.bn1.running_mean"
    counter = "image_encoder.bn1.num_batches_tracked"
    trained = state(finetune(config(zs, train_spec, tmp_path / "bn_train", steps=2, batchnorm="train")))
    frozen = state(finetune(config(zs, train_spec, tmp_path / "bn_frozen", steps=2, batchnorm="frozen")))
    start = state(zs)
    assert not torch.equal(trained[stats], start[stats]) and trained[counter] == start[counter] + 2
    assert torch.equal(frozen[stats], start[stats]) and frozen[counter] == start[counter]
    assert not torch.equal(frozen["image_encoder.bn1.weight"], start["image_encoder.bn1.weight"])
    load_pair(zs, tmp_path / "bn_train" / "finetuned.safetensors").new_interpolator().set_alpha(0.5)


def test_finetune_on_the_demo_world_reference(tmp_path):
    classifier, meta, _ = make_classifier("wiseft-test-demo-vit", TINY_RESNET, seed=0, classnames=world.CLASSNAMES)
    zs = tmp_path / "demo_zs.safetensors"
    save_classifier(zs, classifier, meta)
    final = finetune(config(zs, "demo:photo", tmp_path / "demo", steps=2, batch_size=8))
    assert read_meta(final).recipe["train"] == "demo:photo"


def test_bad_options_are_user_errors(tmp_path, tiny_pair_files, train_spec):
    zs, _, _ = tiny_pair_files
    with pytest.raises(WiseftError, match="--mode 'probe'"):
        finetune(config(zs, train_spec, tmp_path / "a", mode="probe"))
    with pytest.raises(WiseftError, match="either --epochs or --steps"):
        finetune(config(zs, train_spec, tmp_path / "b", epochs=1))
    with pytest.raises(WiseftError, match="fewer than --batch-size 512"):
        finetune(config(zs, train_spec, tmp_path / "c", batch_size=512))


def test_every_config_field_is_a_flag_with_the_same_default_and_resume_keys_come_from_the_config():

    args = build_parser().parse_args(["finetune", "--zeroshot", "z", "--train", "folder=t", "--out", "o"])
    config = ft.FinetuneConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(ft.FinetuneConfig)
                                  if f.name != "progress"})
    assert config == ft.FinetuneConfig(zeroshot="z", train="folder=t", out="o")
    assert config.precision == "fp32"  # the reference trains in fp32
    assert ft.RESUME_KEYS == ("train", "mode", "lr", "wd", "epochs", "steps", "warmup", "batch_size",
                              "label_smoothing", "batchnorm", "grad_clip", "precision", "seed")
    assert all(name in DATASET_HELP for name in (*PATH_KINDS, *DISTRIBUTIONS))  # derived, never kept by hand


def test_bf16_precision_is_a_switch_recorded_in_the_recipe_and_kept_on_resume(tmp_path, tiny_pair_files, train_spec,
                                                                               monkeypatch):
    zs, _, _ = tiny_pair_files
    final = finetune(config(zs, train_spec, tmp_path / "bf16", steps=2, precision="bf16"))
    assert read_meta(final).recipe["precision"] == "bf16 autocast"
    fp32 = finetune(config(zs, train_spec, tmp_path / "fp32", steps=2))
    assert read_meta(fp32).recipe["precision"] == "fp32"
    assert not torch.equal(state(final)["head.weight"], state(fp32)["head.weight"])  # autocast did run
    kill_after_first_epoch(monkeypatch, lambda: finetune(config(zs, train_spec, tmp_path / "run", precision="bf16")))
    with pytest.raises(WiseftError, match="precision differ"):
        finetune(config(zs, train_spec, tmp_path / "run", resume=True))
