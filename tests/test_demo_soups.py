"""The demo soups: the random search, the results file and the paper's findings, and a quick build end to end."""

import json
import shutil

import pytest

from wiseft_core.cli.dispatch import main
from wiseft_core.data import world
from wiseft_core.demo.assets import DEMO_FINETUNED, DEMO_ZEROSHOT
from wiseft_core.demo.build import FULL
from wiseft_core.demo.soup_results import (
    GREEDY,
    UNIFORM,
    ZERO_SHOT,
    Scored,
    read_results_csv,
    soup_findings,
    write_results_csv,
)
from wiseft_core.demo.soups import LR_RANGE, STEPS, WD_RANGE, random_search
from wiseft_core.errors import WiseftError
from wiseft_core.evaluate.results import read_sweep_csv
from wiseft_core.files.checkpoints import file_sha256, read_meta
from wiseft_core.files.reader import load_classifier
from wiseft_core.inspection.soup_plane import read_plane_csv


def test_the_random_search_starts_from_the_shipped_recipe_and_stays_in_its_ranges():
    recipes = random_search(8)
    assert recipes[0] == FULL.end_to_end
    assert random_search(8) == recipes and random_search(10)[:8] == recipes  # seeded; more draws extend it
    assert [r.seed for r in recipes] == list(range(8))
    for r in recipes[1:]:
        assert LR_RANGE[0] <= r.lr <= LR_RANGE[1] * 1.01 and WD_RANGE[0] * 0.99 <= r.wd <= WD_RANGE[1] * 1.01
        assert r.steps in STEPS and r.warmup == r.steps // 10 and r.batchnorm == "frozen"
    assert len({(r.lr, r.steps, r.label_smoothing) for r in recipes}) == 8


def model(name: str, photo: float, shift: float, val_photo: float | None = None, recipe=None) -> Scored:
    test = {d: (photo if d == world.REFERENCE else shift) for d in world.DISTRIBUTIONS}
    val = {**test, world.REFERENCE: photo if val_photo is None else val_photo}
    return Scored(name, val, test, recipe)


RECIPE = {"lr": 0.0005, "steps": 400, "wd": 0.1, "label_smoothing": 0.1, "seed": 0}


def test_findings_compare_the_soups_with_the_fine_tune_best_on_the_validation_draw():
    models = [model(ZERO_SHOT, 70, 66), model("fine-tune 0", 98.5, 58, val_photo=99.0, recipe=RECIPE),
              model("fine-tune 1", 99.0, 55, val_photo=98.0, recipe=RECIPE),  # best on test, not on val
              model(UNIFORM, 98.0, 62), model(GREEDY, 98.7, 57)]
    found = {f.name: f for f in soup_findings(models)}
    on_reference = found["greedy soup >= best single model on the reference"]
    assert on_reference.holds and "98.70 vs 98.50 (fine-tune 0" in on_reference.detail
    assert "best of all on this draw 99.00" in on_reference.detail
    assert found["uniform soup's shift average >= best single model's"].holds
    assert not found["greedy soup's shift average >= best single model's"].holds


def test_results_csv_round_trips_and_a_bad_row_is_one_line(tmp_path):
    models = [model(ZERO_SHOT, 70, 66), model("fine-tune 0", 98.5, 58, recipe=RECIPE), model(GREEDY, 98.7, 57)]
    path = write_results_csv(tmp_path / "soups.csv", models)
    back = read_results_csv(path)
    assert [m.name for m in back] == [ZERO_SHOT, "fine-tune 0", GREEDY]
    assert back[1].recipe == {k: float(v) for k, v in RECIPE.items()} and back[0].recipe is None
    assert back[2].test == models[2].test and back[1].avg_shifts("val") == 58
    path.write_text(path.read_text().replace("98.50", "lots", 1))
    with pytest.raises(WiseftError, match="soups.csv, line 4"):
        read_results_csv(path)


@pytest.mark.slow
@pytest.mark.skipif(not DEMO_ZEROSHOT.is_file(), reason="the demo assets are not in this checkout")
def test_a_quick_soups_build_writes_soups_a_sweep_to_them_and_a_plane(tmp_path):
    out, work = tmp_path / "demo", tmp_path / "work"
    out.mkdir()
    for path in (DEMO_ZEROSHOT, DEMO_FINETUNED):
        shutil.copyfile(path, out / path.name)
    assert main(["demo", "build", "--soups", "--quick", "--quiet", "--out", str(out), "--work", str(work),
                 "--threads", "1"]) == 0
    soups = out / "soups"
    info = json.loads((soups / "soups.json").read_text())
    models = read_results_csv(soups / "soups.csv")
    assert [m.name for m in models] == [ZERO_SHOT, "fine-tune 0", "fine-tune 1", "fine-tune 2", UNIFORM, GREEDY]
    greedy = read_meta(soups / "greedy_soup.safetensors").recipe
    chosen = info["greedy"]["ingredients"]
    assert [i["sha256"] for i in greedy["ingredients"]] == [info["ingredients"][k]["sha256"] for k in chosen]
    assert sum(i["weight"] for i in greedy["ingredients"]) == pytest.approx(1.0)
    assert greedy["zeroshot_sha256"] == file_sha256(out / "zeroshot.safetensors")
    rows = read_sweep_csv(soups / "sweep_soups.csv")
    assert {r["finetuning"] for r in rows} == {UNIFORM, GREEDY} and len(rows) == 2 * 5 * len(world.DISTRIBUTIONS)
    assert len(read_plane_csv(soups / "plane.csv")) == 3 * 3 * 2
    load_classifier(soups / "plane_finetune.safetensors")
    assert "## The paper's findings, test draw" in (soups / "RESULTS.md").read_text()


SHIPPED = DEMO_ZEROSHOT.parent / "soups"


@pytest.mark.skipif(not (SHIPPED / "soups.csv").is_file(), reason="the demo soups are not built")
def test_the_shipped_soups_files_agree_with_each_other():
    models = {m.name: m for m in read_results_csv(SHIPPED / "soups.csv")}
    info = json.loads((SHIPPED / "soups.json").read_text())
    rows = read_sweep_csv(SHIPPED / "sweep_soups.csv")
    for soup in (UNIFORM, GREEDY):  # the sweep's alpha 1 is the soup itself, measured by other code
        at_one = {r["dataset"].split(":")[1]: r["top1"] for r in rows if r["finetuning"] == soup and r["alpha"] == 1}
        assert at_one == pytest.approx(models[soup].test, abs=0.01)
    at_zero = {r["dataset"].split(":")[1]: r["top1"] for r in rows if r["alpha"] == 0 and r["finetuning"] == GREEDY}
    assert at_zero == pytest.approx(models[ZERO_SHOT].test, abs=0.01)
    recipe = read_meta(SHIPPED / "greedy_soup.safetensors").recipe
    chosen = info["greedy"]["ingredients"]
    assert [i["sha256"] for i in recipe["ingredients"]] == [info["ingredients"][k]["sha256"] for k in chosen]
    assert info["ingredients"][0]["sha256"] == file_sha256(DEMO_FINETUNED)  # ingredient 0 is the shipped fine-tune
    assert file_sha256(SHIPPED / "plane_finetune.safetensors") == info["ingredients"][info["plane"]["theta2"]]["sha256"]
    findings = (SHIPPED / "RESULTS.md").read_text()
    assert all(f.detail in findings for f in soup_findings(list(models.values())))
