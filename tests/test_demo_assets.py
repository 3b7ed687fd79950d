"""The shipped demo pair in assets/demo: loadable, self-describing, complete, and showing the findings."""

from pathlib import Path

import pytest
from PIL import Image

from wiseft_core.data import world
from wiseft_core.demo.build import CLIP_FILE, FULL, SAMPLE_SCALE, reusable_clip
from wiseft_core.demo.findings import check_findings, format_findings
from wiseft_core.evaluate.results import read_sweep_csv
from wiseft_core.evaluate.sweep import SweepConfig, run_sweep
from wiseft_core.files.checkpoints import load_classifier, read_meta

DEMO = Path(__file__).resolve().parent.parent / "assets" / "demo"
CHECKPOINTS = ("zeroshot", "finetuned", "finetuned_linear")
ALPHAS = [round(i * 0.05, 2) for i in range(21)]

pytestmark = pytest.mark.skipif(not (DEMO / "sweep.csv").is_file(), reason="demo assets not built yet")


@pytest.fixture(scope="module")
def rows():
    return read_sweep_csv(DEMO / "sweep.csv")


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_shipped_checkpoints_load_with_complete_metadata(name):
    loaded = load_classifier(DEMO / f"{name}.safetensors")
    meta = loaded.meta
    assert meta.model_name == "demo-clip"
    assert {"embed_dim", "vision_cfg", "text_cfg"} <= set(meta.model_config)
    assert meta.classnames == world.CLASSNAMES and meta.templates == world.TEMPLATES
    assert meta.preprocessing.image_size == 32
    assert meta.extra["demo_world"]["pretrain"]["pairs"] == 200_000
    assert loaded.model.head.weight.shape == (20, 128)
    assert any("head" in key for key in loaded.model.state_dict())
    if name != "zeroshot":
        assert meta.recipe["finetuning"] == ("end-to-end" if name == "finetuned" else "linear classifier")
        assert meta.recipe["train"] == "demo:photo" and meta.recipe["total_steps"] > 0


def test_linear_classifier_checkpoint_differs_from_zero_shot_only_in_the_head():
    zs = read_meta(DEMO / "zeroshot.safetensors")
    assert zs.recipe is None
    a = load_classifier(DEMO / "zeroshot.safetensors").model.state_dict()
    b = load_classifier(DEMO / "finetuned_linear.safetensors").model.state_dict()
    changed = {k for k in a if not a[k].equal(b[k])}
    assert changed and all(k.startswith("head.") for k in changed)


def test_shipped_sweep_has_every_alpha_dataset_finetuning_and_ensemble_row_for_each_seed(rows):
    # Seed 0 is the shipped pair (both fine-tunings and ensembles); a full build adds the recipe's spread
    # seeds (end-to-end, weight space), which the Curves page draws as whiskers.
    spread = sorted({r["seed"] for r in rows} - {"0"})
    assert spread in ([], [str(s) for s in FULL.spread_seeds])
    alphas = ALPHAS  # 0..1 by 0.05
    keys = {(r["finetuning"], r["ensemble"], round(r["alpha"], 2), r["dataset"], r["seed"]) for r in rows}
    expected = {(f, e, a, f"demo:{d}", "0") for f in ("end-to-end", "linear classifier") for e in ("weights", "outputs")
                for a in alphas for d in world.DISTRIBUTIONS}
    expected |= {("end-to-end", "weights", a, f"demo:{d}", seed) for a in alphas for d in world.DISTRIBUTIONS
                 for seed in spread}
    assert keys == expected and len(rows) == len(expected)
    assert {r["n"] for r in rows} == {2000}
    assert {r["dataset"] for r in rows if r["role"] == "reference"} == {"demo:photo"}


def test_shipped_sweep_shows_the_wise_ft_findings(rows):
    findings = check_findings(rows)
    assert len(findings) == 8 and all(f.holds for f in findings), format_findings(findings)


def test_shipped_pretrained_clip_matches_todays_pretraining_world():
    assert reusable_clip(DEMO / CLIP_FILE, FULL.pretrain) is None


@pytest.mark.slow
def test_rerunning_wiseft_sweep_on_the_shipped_checkpoints_reproduces_shipped_rows(rows, tmp_path):
    out = tmp_path / "again.csv"
    run_sweep(SweepConfig(zeroshot=str(DEMO / "zeroshot.safetensors"), finetuned=str(DEMO / "finetuned.safetensors"),
                          evals=["demo:objectnet"], out=str(out), alphas=[0.5], ensembles=["weights", "outputs"],
                          device="cpu", progress=False))
    again = {(r["ensemble"], r["alpha"]): r["top1"] for r in read_sweep_csv(out)}
    shipped = {(r["ensemble"], r["alpha"]): r["top1"] for r in rows
               if r["finetuning"] == "end-to-end" and r["dataset"] == "demo:objectnet" and r["alpha"] == 0.5
               and r["seed"] == "0"}
    assert again == pytest.approx(shipped, abs=1e-4)


def test_samples_are_the_generator_test_images_named_by_class():
    samples = sorted((DEMO / "samples").glob("*.png"))
    for name in world.DISTRIBUTIONS:
        assert 4 <= len([p for p in samples if p.name.startswith(name + "_")]) <= 6
    for path in samples:
        distribution, index, classname = path.stem.split("_", 2)
        image, label = world.generate(distribution, "test", int(index))
        assert world.CLASSNAMES[label] == classname.replace("_", " ")
        expected = image.resize((32 * SAMPLE_SCALE, 32 * SAMPLE_SCALE), resample=Image.NEAREST)
        assert Image.open(path).convert("RGB").tobytes() == expected.tobytes()


def test_demo_assets_fit_the_25_mb_budget():
    total = sum(p.stat().st_size for p in DEMO.rglob("*") if p.is_file())
    assert total <= 25 * 1024 * 1024
