"""Which images flip: the six groups against a hand-computed table, the file format, the command."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from wiseft_test_data import image_folder

from wiseft_core.cli.dispatch import main
from wiseft_core.data.datasets import load_dataset
from wiseft_core.engine.pair import load_pair
from wiseft_core.engine.predict import to_batch
from wiseft_core.errors import WiseftError
from wiseft_core.inspection.along_alpha import along_alpha
from wiseft_core.inspection.flips import GROUPS, counts_at, flip_groups, groups_at, load_flips, save_flips

FOLDERS = ["cat", "dog", "bird", "fish", "horse"]


def test_six_groups_match_a_hand_computed_table():
    #                 img:   0  1  2  3  4  5  6  7  8
    labels = np.array([0, 1, 2, 3, 4, 5, 6, 7, -1])
    pred0 = np.array([0, 1, 2, 9, 9, 9, 6, 9, 0])
    pred1 = np.array([0, 9, 2, 3, 9, 9, 9, 7, 0])
    pred_a = np.array([0, 1, 9, 3, 4, 9, 9, 9, 0])
    # img 0: right everywhere; 1: zs only, kept; 2: both ends, lost at alpha; 3: ft only, kept;
    # 4: wrong at both ends, rescued; 5: wrong everywhere; 6: zs only, lost; 7: ft only, lost; 8: unreadable
    expected = {
        "both right": [0, 2],
        "only zero-shot right": [1, 6],
        "only fine-tuned right": [3, 7],
        "both wrong": [4, 5],
        "rescued": [4],
        "lost": [2, 6, 7],
    }
    groups = flip_groups(labels, pred0, pred1, pred_a)
    assert list(groups) == list(GROUPS)
    assert {name: np.flatnonzero(mask).tolist() for name, mask in groups.items()} == expected


@pytest.fixture(scope="module")
def folder_dataset(tmp_path_factory):
    root = image_folder(tmp_path_factory.mktemp("flips") / "data", FOLDERS, per_class=3)
    return f"folder={root}"


def test_predictions_at_the_ends_are_the_endpoint_models_own(tiny_pair_files, folder_dataset):
    zs, ft, _ = tiny_pair_files
    pair = load_pair(zs, ft)
    loaded = load_dataset(folder_dataset)
    weights, outputs = along_alpha(pair, loaded, [0.0, 0.5, 1.0], ("weights", "outputs"), batch_size=4)
    images = [loaded.images[i][0] for i in range(len(loaded))]
    batch = to_batch(images, pair.preprocessing)
    with torch.no_grad():
        direct = [pair.endpoint_model(side)(batch).argmax(dim=1).numpy() for side in (0, 1)]
    for result in (weights, outputs):
        # images come in sorted folder order; each carries its folder's index in the head (FOLDERS' order)
        assert result.labels.tolist() == [FOLDERS.index(f) for f in sorted(FOLDERS) for _ in range(3)]
        assert np.array_equal(result.predictions[0], direct[0])
        assert np.array_equal(result.predictions[2], direct[1])
    assert weights.names == loaded.paths


def test_flips_file_round_trips_and_stays_small(tmp_path):
    rng = np.random.default_rng(0)
    n, alphas = 12_000, [round(0.05 * k, 2) for k in range(21)]
    labels = rng.integers(0, 20, n)
    # predictions that drift along alpha like a real path: each image changes class at most twice
    switch = rng.integers(0, 21, (2, n))
    first, second, third = labels, rng.integers(0, 20, n), rng.integers(0, 20, n)
    k = np.arange(21)[:, None]
    predictions = np.where(k < switch.min(0), first, np.where(k < switch.max(0), second, third))
    from wiseft_core.inspection.along_alpha import AlongAlpha

    results = [AlongAlpha(f"demo:{d}", e, alphas, labels, predictions, np.arange(21.0)) for d in range(6)
               for e in ("weights", "outputs")]
    path = save_flips(tmp_path / "f.npz", results, {"zeroshot": "zs"})
    assert path.stat().st_size < 2_000_000
    loaded = load_flips(path)
    assert loaded.info == {"zeroshot": "zs"} and loaded.specs() == [f"demo:{d}" for d in range(6)]
    back = loaded.get("demo:3", "outputs")
    assert back.alphas == alphas and np.array_equal(back.predictions, predictions)
    assert np.array_equal(back.labels, labels) and back.loss_sum.tolist() == list(np.arange(21.0))


def test_unreadable_image_keeps_its_place_and_belongs_to_no_group(tiny_pair_files, tmp_path):
    zs, ft, _ = tiny_pair_files
    root = image_folder(tmp_path / "imgs", FOLDERS[:2], per_class=2)
    bad = tmp_path / "imgs" / "broken.png"
    bad.write_bytes(b"not an image")
    rows = ["path,label", "cat/img_0.png,0", "broken.png,1", "dog/img_1.png,1"]
    (root / "list.csv").write_text("\n".join(rows) + "\n")
    pair = load_pair(zs, ft)
    (result,) = along_alpha(pair, load_dataset(f"csv={root / 'list.csv'}"), [0.0, 0.5, 1.0])
    assert result.labels.tolist() == [0, -1, 1] and result.n == 2
    assert result.predictions[:, 1].tolist() == [-1, -1, -1]
    groups = groups_at(result, 0.5)
    assert not any(mask[1] for mask in groups.values())
    endpoint_groups = sum(int(groups[g].sum()) for g in GROUPS[:4])
    assert endpoint_groups == 2


def test_flips_command_writes_the_file_and_prints_the_counts(tiny_pair_files, folder_dataset, tmp_path, capsys):
    zs, ft, _ = tiny_pair_files
    out = tmp_path / "flips.npz"
    assert main(["flips", "--zeroshot", str(zs), "--finetuned", str(ft), "--eval", folder_dataset,
                 "--alphas", "0.25,0.75", "--alpha", "0.75", "--ensemble", "weights,outputs", "--quiet",
                 "--out", str(out)]) == 0
    loaded = load_flips(out)
    result = loaded.get(folder_dataset, "weights")
    assert result.alphas == [0.0, 0.25, 0.75, 1.0]  # the ends (and --alpha) are always measured
    counts = counts_at(result, 0.75)
    assert sum(counts[g] for g in GROUPS[:4]) == 15
    printed = capsys.readouterr().out
    line = next(row for row in printed.splitlines() if row.startswith(f"{folder_dataset} (weights)"))
    assert [int(v) for v in line.split()[-6:]] == [counts[g] for g in GROUPS]
    assert loaded.info["classnames"] == FOLDERS


def test_bad_flips_input_is_one_line(tiny_pair_files, tmp_path, capsys):
    zs, ft, _ = tiny_pair_files
    code = main(["flips", "--zeroshot", str(zs), "--finetuned", str(ft), "--eval", "demo:nowhere",
                 "--out", str(tmp_path / "f.npz")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "demo:nowhere" in err[0]
    garbage = tmp_path / "g.npz"
    garbage.write_bytes(b"nope")
    with pytest.raises(WiseftError, match="cannot read flips file"):
        load_flips(garbage)
