import pytest

from wiseft_core.errors import WiseftError
from wiseft_core.evaluate.results import (
    SWEEP_COLUMNS,
    append_rows,
    format_alpha,
    load_paper_curves,
    read_sweep_csv,
    row_key,
    summary_table,
)


def rows():
    base = {"model": "m", "finetuning": "end-to-end", "ensemble": "weights", "n": 100}
    return [
        {**base, "alpha": 0.5, "dataset": "demo:photo", "role": "reference", "top1": 90.0},
        {**base, "alpha": 0.5, "dataset": "demo:sketch", "role": "shift", "top1": 40.0},
        {**base, "alpha": 0.5, "dataset": "demo:v2", "role": "shift", "top1": 60.0},
    ]


def test_rows_append_and_read_back(tmp_path):
    path = tmp_path / "r.csv"
    append_rows(path, rows()[:1])
    append_rows(path, rows()[1:])
    back = read_sweep_csv(path)
    assert [row_key(r) for r in back] == [row_key(r) for r in rows()]
    assert back[1]["top1"] == 40.0 and back[1]["n"] == 100
    assert path.read_text().splitlines()[0] == ",".join(SWEEP_COLUMNS)


def test_summary_averages_shifts_like_the_paper():
    (row,) = summary_table(rows())
    assert row["reference"] == 90.0 and row["avg_shifts"] == 50.0 and row["avg_ref_shifts"] == 70.0


def test_wrong_columns_are_named(tmp_path):
    with pytest.raises(WiseftError, match="missing column\\(s\\) role, top1"):
        read_sweep_csv(b"model,finetuning,alpha,ensemble,dataset,accuracy,n\nm,e,0.5,weights,x,1,2\n")
    with pytest.raises(WiseftError, match="line 2"):
        read_sweep_csv(("," .join(SWEEP_COLUMNS) + "\nm,e,abc,weights,x,shift,1,2\n").encode())


def test_paper_curves_are_shipped_with_every_alpha():
    curves = load_paper_curves()
    assert len(curves) == 210
    vit_l = [r for r in curves if r["model"] == "CLIP ViT-L/14@336px" and r["finetuning"] == "end-to-end"]
    assert [r["alpha"] for r in vit_l][:3] == [0.0, 0.05, 0.1]
    assert vit_l[0]["IN"] == 76.6 and vit_l[-1]["IN"] == 86.2


def test_alphas_are_written_as_the_shortest_text_that_reads_back_exactly(tmp_path):
    assert [format_alpha(a) for a in (0.0, -0.0, 1.0, 0.5, 0.12345, 0.1 + 0.2, 1e-05, -2.5)] == [
        "0", "0", "1", "0.5", "0.12345", "0.30000000000000004", "1e-05", "-2.5"]
    path = tmp_path / "r.csv"
    alphas = [0.12345, 0.1 + 0.2, 1 / 3]
    append_rows(path, [{**rows()[0], "alpha": a} for a in alphas])
    assert [r["alpha"] for r in read_sweep_csv(path)] == alphas


@pytest.mark.parametrize("field,value,message", [
    ("alpha", "nan", "line 3: alpha must be a finite number, got nan"),
    ("alpha", "inf", "line 3: alpha must be a finite number, got inf"),
    ("top1", "nan", "line 3: top1 must be a percentage in [0, 100], got nan"),
    ("top1", "-inf", "line 3: top1 must be a percentage in [0, 100], got -inf"),
    ("top1", "100.5", "line 3: top1 must be a percentage in [0, 100], got 100.5"),
    ("n", "-3", "line 3: n must be a whole number of images (0 or more), got -3"),
    ("n", "2.5", "line 3: n must be a whole number of images (0 or more), got 2.5"),
    ("n", "nan", "line 3: n must be a whole number of images (0 or more), got nan"),
])
def test_a_sweep_csv_with_impossible_numbers_is_refused_naming_the_row(field, value, message):
    good = {"model": "m", "finetuning": "end-to-end", "alpha": "0.5", "ensemble": "weights", "dataset": "d",
            "role": "reference", "top1": "61.5", "n": "200"}
    bad = {**good, field: value}
    text = ",".join(SWEEP_COLUMNS) + "\n" + "\n".join(",".join(row[c] for c in SWEEP_COLUMNS) for row in (good, bad))
    with pytest.raises(WiseftError) as caught:
        read_sweep_csv(text.encode())
    assert str(caught.value) == f"<upload>, {message}"
    rows = read_sweep_csv((text.rsplit("\n", 1)[0] + "\n").encode())  # the good row alone reads
    assert rows[0]["n"] == 200 and isinstance(rows[0]["n"], int) and rows[0]["top1"] == 61.5
