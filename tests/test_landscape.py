"""Loss along the line between two checkpoints: exact at the ends, flat for a pair with itself."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from wiseft_test_data import image_folder

from wiseft_core.cli.dispatch import main
from wiseft_core.data.datasets import load_dataset
from wiseft_core.engine.pair import load_pair
from wiseft_core.errors import WiseftError
from wiseft_core.evaluate.evaluation import iterate_batches
from wiseft_core.inspection.landscape import (
    LandscapePath,
    barrier_height,
    barrier_table,
    error_barrier,
    measure_path,
    read_csv,
    write_csv,
)

FOLDERS = ["cat", "dog", "bird", "fish", "horse"]


@pytest.fixture(scope="module")
def folder_spec(tmp_path_factory):
    return f"folder={image_folder(tmp_path_factory.mktemp('landscape') / 'data', FOLDERS, per_class=3)}"


def endpoint_loss(model, loaded, preprocessing, batch_size: int) -> float:
    """Mean cross-entropy of one classifier, written out independently of the landscape code."""
    total, n = 0.0, 0
    with torch.no_grad():
        for images, labels in iterate_batches(loaded, preprocessing.eval_transform(), batch_size):
            total += float(F.cross_entropy(model(images).float(), labels, reduction="sum"))
            n += len(labels)
    return total / n


def test_loss_at_zero_and_one_equals_the_endpoints_loss_exactly(tiny_pair_files, folder_spec):
    zs, ft, _ = tiny_pair_files
    pair = load_pair(zs, ft)
    loaded = load_dataset(folder_spec)
    (path,) = measure_path("ours", pair, [loaded], [-0.5, 0.25, 0.5, 1.5], batch_size=4)
    assert path.alphas == [-0.5, 0.0, 0.25, 0.5, 1.0, 1.5]
    assert path.losses[1] == endpoint_loss(pair.endpoint_model(0), loaded, pair.preprocessing, 4)
    assert path.losses[4] == endpoint_loss(pair.endpoint_model(1), loaded, pair.preprocessing, 4)
    assert path.losses[1] != path.losses[4] and path.n == 15


def test_barrier_of_a_pair_with_itself_is_zero(tiny_pair_files, folder_spec):
    zs, _, _ = tiny_pair_files
    (path,) = measure_path("self", load_pair(zs, zs), [load_dataset(folder_spec)], [0, 0.3, 0.5, 0.7, 1])
    assert len(set(path.losses)) == 1
    assert path.barrier == 0.0


def test_barrier_is_the_largest_rise_above_the_chord_inside_zero_one():
    assert barrier_height([0, 0.5, 1], [1.0, 3.0, 2.0]) == pytest.approx(1.5)  # chord at 0.5 is 1.5
    assert barrier_height([0, 0.25, 0.5, 1], [2.0, 1.0, 1.2, 1.0]) == 0.0  # below the chord: no barrier
    assert barrier_height([-0.5, 0, 1, 1.5], [9.0, 1.0, 1.0, 9.0]) == 0.0  # extrapolation is not the path
    with pytest.raises(WiseftError, match="alpha 0 and at alpha 1"):
        barrier_height([0.2, 0.5], [1.0, 2.0])


def test_landscape_command_writes_a_csv_that_reads_back(tiny_pair_files, folder_spec, tmp_path, capsys):
    zs, ft, _ = tiny_pair_files
    out = tmp_path / "landscape.csv"
    assert main(["landscape", "--path", f"ours={zs},{ft}", "--path", f"self={ft},{ft}", "--eval", folder_spec,
                 "--alphas=-0.5:1.5:0.5", "--quiet", "--out", str(out)]) == 0
    paths = read_csv(out)
    assert [(p.path, p.alphas) for p in paths] == [("ours", [-0.5, 0.0, 0.5, 1.0, 1.5]),
                                                   ("self", [-0.5, 0.0, 0.5, 1.0, 1.5])]
    table = barrier_table(paths)
    assert table[1]["loss barrier"] == 0.0 and table[1]["error barrier (pp)"] == 0.0
    printed = capsys.readouterr().out
    assert f"loss barrier={table[0]['loss barrier']:.4f}" in printed
    write_csv(tmp_path / "again.csv", paths)
    assert (tmp_path / "again.csv").read_text() == out.read_text()


def test_bad_path_argument_is_one_line(capsys):
    assert main(["landscape", "--path", "only-one-file.safetensors", "--eval", "demo:photo", "--out", "x.csv"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "NAME=THETA0,THETA1" in err[0]


def test_sweep_metrics_loss_writes_a_loss_column_that_matches_the_landscape(tiny_pair_files, folder_spec, tmp_path):
    from wiseft_core.evaluate.results import LOSS_COLUMN, SWEEP_COLUMNS, read_sweep_csv

    zs, ft, _ = tiny_pair_files
    out = tmp_path / "sweep.csv"
    assert main(["sweep", "--zeroshot", str(zs), "--finetuned", str(ft), "--eval", folder_spec, "--quiet",
                 "--alphas=-0.5,0,0.5,1,1.5", "--ensemble", "weights,outputs", "--metrics", "top1,loss",
                 "--batch-size", "4", "--out", str(out)]) == 0
    assert out.read_text().splitlines()[0] == ",".join([*SWEEP_COLUMNS, LOSS_COLUMN])
    rows = read_sweep_csv(out)
    (path,) = measure_path("ours", load_pair(zs, ft), [load_dataset(folder_spec)], [-0.5, 0.5, 1.5], batch_size=4)
    by_alpha = {r["alpha"]: r[LOSS_COLUMN] for r in rows if r["ensemble"] == "weights"}
    assert sorted(by_alpha) == path.alphas
    assert [by_alpha[a] for a in path.alphas] == pytest.approx(path.losses, abs=1e-6)
    outputs = {r["alpha"]: r[LOSS_COLUMN] for r in rows if r["ensemble"] == "outputs"}
    assert outputs[0.0] == by_alpha[0.0] and outputs[1.0] == by_alpha[1.0]  # the two ensembles share their ends


def test_sweep_without_loss_keeps_the_old_header_and_refuses_to_add_loss_to_it(tiny_pair_files, folder_spec,
                                                                                tmp_path, capsys):
    from wiseft_core.evaluate.results import SWEEP_COLUMNS

    zs, ft, _ = tiny_pair_files
    out = tmp_path / "sweep.csv"
    args = ["sweep", "--zeroshot", str(zs), "--finetuned", str(ft), "--eval", folder_spec, "--quiet",
            "--alphas", "0,1", "--out", str(out)]
    assert main(args) == 0
    assert out.read_text().splitlines()[0] == ",".join(SWEEP_COLUMNS)
    capsys.readouterr()
    assert main([*args, "--metrics", "top1,loss"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "without a loss column" in err[0]
    assert main([*args, "--metrics", "top5"]) == 2


def test_frankle_error_barrier_is_the_worst_error_above_the_mean_endpoint_error():
    # top-1 80 % and 60 % at the ends: errors 20 and 40, mean 30; the worst error inside [0, 1] is 55 at 0.5
    assert error_barrier([0, 0.5, 1], [80.0, 45.0, 60.0]) == pytest.approx(25.0)
    # the same path's loss barrier uses the chord, not the mean: loss 1, 3, 2 -> 3 - 1.5
    path = LandscapePath("p", "d", [0, 0.5, 1], [1.0, 3.0, 2.0], [80.0, 45.0, 60.0], n=10)
    assert path.barrier == pytest.approx(1.5) and path.error_barrier == pytest.approx(25.0)
    # no dip: the worse endpoint sets the max, so Frankle's barrier is half the endpoints' gap (not 0)
    assert error_barrier([0, 0.5, 1], [80.0, 70.0, 60.0]) == pytest.approx(10.0)
    assert error_barrier([-0.5, 0, 1, 1.5], [0.0, 90.0, 90.0, 0.0]) == 0.0  # extrapolation is not the path


def test_barrier_table_has_a_column_for_each_barrier():
    path = LandscapePath("p", "d", [0, 0.5, 1], [1.0, 3.0, 2.0], [80.0, 45.0, 60.0], n=10)
    (row,) = barrier_table([path])
    assert row["loss barrier"] == 1.5 and row["error barrier (pp)"] == 25.0 and row["at alpha"] == 0.5


def test_flips_and_landscape_take_the_objectnet_crop_opt_out():
    from wiseft_core.cli.dispatch import build_parser

    parser = build_parser()
    for argv in (["landscape", "--path", "p=a,b", "--eval", "demo:objectnet", "--out", "x.csv"],
                 ["flips", "--zeroshot", "a", "--finetuned", "b", "--eval", "demo:objectnet", "--out", "x.npz"]):
        assert parser.parse_args(argv).objectnet_crop is True
        assert parser.parse_args([*argv, "--no-objectnet-crop"]).objectnet_crop is False


def test_no_objectnet_crop_loads_objectnet_without_its_border_crop(tmp_path):
    from wiseft_core.cli.inspection import _datasets

    spec = f"objectnet={image_folder(tmp_path / 'objectnet' / 'images', ['alarm_clock'], per_class=1).parent}"
    (cropped,) = _datasets([spec], objectnet_crop=True)
    (plain,) = _datasets([spec], objectnet_crop=False)
    assert cropped.crop_border == 2 and plain.crop_border == 0
