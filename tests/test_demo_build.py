"""``wiseft demo build --quick`` runs the whole pipeline end to end (tiny sizes; no findings required)."""

import pytest

from wiseft_core.checkpoints import load_classifier
from wiseft_core.cli import main
from wiseft_core.demo import world
from wiseft_core.results import read_sweep_csv


@pytest.mark.slow
def test_quick_build_writes_a_loadable_pair_samples_and_a_complete_sweep(tmp_path):
    assert main(["demo", "build", "--quick", "--quiet", "--out", str(tmp_path)]) == 0

    for name in ("zeroshot", "finetuned", "finetuned_linear"):
        loaded = load_classifier(tmp_path / f"{name}.safetensors")
        assert loaded.meta.model_name == "demo-clip" and loaded.meta.classnames == world.CLASSNAMES
    rows = read_sweep_csv(tmp_path / "sweep.csv")
    keys = {(r["finetuning"], r["ensemble"], r["alpha"], r["dataset"]) for r in rows}
    assert len(keys) == len(rows) == 2 * 2 * 3 * len(world.DISTRIBUTIONS)
    assert {r["n"] for r in rows} == {100}  # the quick build's tiny test sets
    assert len(list((tmp_path / "samples").glob("*.png"))) == 5 * len(world.DISTRIBUTIONS)
    assert (tmp_path / "build.log").read_text().strip().endswith("s")
    assert world.DEFAULT_SIZES["test"] == 2000  # the quick sizes do not leak out of the build
