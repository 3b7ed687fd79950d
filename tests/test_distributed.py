import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from wiseft_test_data import image_folder

from wiseft_core.errors import WiseftError
from wiseft_core.evaluate import results
from wiseft_core.evaluate.sweep import SweepConfig, run_sweep
from wiseft_core.files.checkpoints import load_classifier
from wiseft_core.train.distributed import GlobalBatchSampler, shard
from wiseft_core.train.finetune import FinetuneConfig, finetune

ROOT = Path(__file__).resolve().parent.parent


def test_every_global_batch_holds_the_same_images_for_any_process_count():
    one = list(GlobalBatchSampler(50, 8, seed=3))
    two = [list(GlobalBatchSampler(50, 8, rank=r, world_size=2, seed=3)) for r in range(2)]
    four = [list(GlobalBatchSampler(50, 8, rank=r, world_size=4, seed=3)) for r in range(4)]
    assert len(one) == 6  # the incomplete last batch (2 images) is dropped
    for step, batch in enumerate(one):
        assert sorted(two[0][step] + two[1][step]) == sorted(batch)
        assert sorted(sum((ranks[step] for ranks in four), [])) == sorted(batch)
    sampler = GlobalBatchSampler(50, 8, seed=3)
    sampler.set_epoch(1)
    assert list(sampler) != one
    with pytest.raises(WiseftError, match="divisible by the number of processes"):
        GlobalBatchSampler(50, 6, rank=0, world_size=4)


def test_evaluation_shards_are_disjoint_and_cover_the_dataset():
    shards = [shard(11, r, 3) for r in range(3)]
    assert sorted(sum(shards, [])) == list(range(11))
    assert [len(s) for s in shards] == [4, 4, 3]


def torchrun(args: list[str], tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "wiseft_core", *args]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.slow
def test_two_gloo_processes_match_one_process(tmp_path, tiny_pair_files):
    zs, _, meta = tiny_pair_files
    train = f"folder={image_folder(tmp_path / 'train', meta.classnames, per_class=4, seed=11)}"
    common = ["--zeroshot", str(zs), "--train", train, "--steps", "4", "--warmup", "1", "--batch-size", "8",
              "--lr", "1e-3", "--device", "cpu", "--quiet"]
    torchrun(["finetune", *common, "--out", str(tmp_path / "ddp")], tmp_path)
    single = finetune(FinetuneConfig(zeroshot=str(zs), train=train, out=str(tmp_path / "one"), steps=4, warmup=1,
                                     batch_size=8, lr=1e-3, device="cpu", progress=False))
    ddp_model = tmp_path / "ddp" / "finetuned.safetensors"
    assert load_classifier(ddp_model).meta.recipe["world_size"] == 2
    expected, actual = load_classifier(single).model.state_dict(), load_classifier(ddp_model).model.state_dict()
    zs_state = load_classifier(zs).model.state_dict()
    assert not torch.equal(actual["head.weight"], zs_state["head.weight"])
    # Gradients are averaged in a different order, so float noise remains; Adam turns noise on near-zero
    # gradients into steps of up to lr, hence the per-element bound of lr / 5 and the global 1 % bound.
    floats = [k for k in expected if expected[k].is_floating_point()]
    for key in floats:
        torch.testing.assert_close(actual[key], expected[key], rtol=0, atol=2e-4)
    gap = sum(float((actual[k] - expected[k]).pow(2).sum()) for k in floats) ** 0.5
    update = sum(float((expected[k] - zs_state[k]).pow(2).sum()) for k in floats) ** 0.5
    assert gap < 0.01 * update

    # A sharded sweep all-reduces the counts: the same rows as one process.
    evals = [train, f"folder={image_folder(tmp_path / 'test', meta.classnames, per_class=3, seed=12)}"]
    sweep_args = ["sweep", "--zeroshot", str(zs), "--finetuned", str(ddp_model), "--alphas", "0,0.5,1",
                  "--ensemble", "weights,outputs", "--device", "cpu", "--quiet", "--out", str(tmp_path / "ddp.csv")]
    torchrun([*sweep_args, *sum((["--eval", e] for e in evals), [])], tmp_path)
    run_sweep(SweepConfig(zeroshot=str(zs), finetuned=str(ddp_model), evals=evals, out=str(tmp_path / "one.csv"),
                          alphas=[0.0, 0.5, 1.0], ensembles=["weights", "outputs"], device="cpu", progress=False))

    def table(name):
        return {results.row_key(r): (r["top1"], r["n"], r["role"]) for r in results.read_sweep_csv(tmp_path / name)}

    assert table("ddp.csv") == table("one.csv")
    assert len(table("one.csv")) == 12 and {v[1] for v in table("one.csv").values()} == {20, 15}
