"""Merging sweep runs (fine-tuning seeds) into one CSV with a seed column; summaries keep the seeds apart."""

import pytest

from wiseft_core.cli.dispatch import main
from wiseft_core.errors import WiseftError
from wiseft_core.evaluate.results import (
    append_rows,
    first_run,
    merge_sweeps,
    read_sweep_csv,
    summary_table,
    write_sweep_csv,
)


def _run(path, offset: float) -> None:
    append_rows(path, [
        {"model": "m", "finetuning": "end-to-end", "alpha": a, "ensemble": "weights", "dataset": d,
         "role": "reference" if d == "ref" else "shift", "top1": base + 10 * a + offset, "n": 100}
        for a in (0.0, 0.5, 1.0) for d, base in (("ref", 60.0), ("shiftA", 40.0))
    ])


def test_merged_runs_keep_every_row_with_its_seed_and_read_back_the_same(tmp_path):
    _run(tmp_path / "s0.csv", 0.0)
    _run(tmp_path / "s1.csv", 2.0)
    rows = merge_sweeps([("0", tmp_path / "s0.csv"), ("1", tmp_path / "s1.csv")])
    write_sweep_csv(tmp_path / "all.csv", rows)
    back = read_sweep_csv(tmp_path / "all.csv")
    assert len(back) == 12 and {r["seed"] for r in back} == {"0", "1"}
    seed1 = {(r["alpha"], r["dataset"]): r["top1"] for r in back if r["seed"] == "1"}
    assert seed1[(0.5, "shiftA")] == 47.0
    # merging the merged file again keeps its own seeds
    assert len(merge_sweeps([(None, tmp_path / "all.csv")])) == 12


def test_summary_table_gives_one_row_per_seed_and_alpha():
    _rows = [{"model": "m", "finetuning": "e", "ensemble": "weights", "alpha": 0.5, "dataset": "ref",
              "role": "reference", "top1": 70.0 + s, "n": 1, "seed": str(s)} for s in (0, 1, 2)]
    table = summary_table(_rows)
    assert [(t["seed"], t["reference"]) for t in table] == [("0", 70.0), ("1", 71.0), ("2", 72.0)]


def test_the_same_run_merged_twice_under_one_seed_is_an_error_naming_the_file(tmp_path):
    _run(tmp_path / "s0.csv", 0.0)
    with pytest.raises(WiseftError, match="s0.csv.*seed 0"):
        merge_sweeps([("0", tmp_path / "s0.csv"), ("0", tmp_path / "s0.csv")])


def test_wiseft_merge_sweeps_writes_the_seed_column_and_prints_a_summary(tmp_path, capsys):
    _run(tmp_path / "s0.csv", 0.0)
    _run(tmp_path / "s1.csv", 1.0)
    out = tmp_path / "merged.csv"
    assert main(["merge-sweeps", "--out", str(out), f"0={tmp_path / 's0.csv'}", f"1={tmp_path / 's1.csv'}"]) == 0
    assert out.read_text().splitlines()[0].endswith(",seed")
    assert "seed" in capsys.readouterr().out


def test_first_run_keeps_one_seed_of_a_merged_sweep_and_every_row_of_a_plain_one(tmp_path):
    _run(tmp_path / "s2.csv", 2.0)
    _run(tmp_path / "s10.csv", 5.0)
    merged = merge_sweeps([("10", tmp_path / "s10.csv"), ("2", tmp_path / "s2.csv")])
    kept = first_run(merged)
    assert {r["seed"] for r in kept} == {"2"} and len(kept) == 6  # by number: seed 2 before seed 10
    plain = read_sweep_csv(tmp_path / "s2.csv")
    assert first_run(plain) == plain
