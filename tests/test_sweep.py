import copy
import random
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import TINY_VIT, make_classifier
from wiseft_test_data import image_folder

from wiseft_core.cli.dispatch import main
from wiseft_core.data import projections, world
from wiseft_core.data.datasets import load_dataset
from wiseft_core.engine.alphas import parse_alphas, parse_ensembles
from wiseft_core.errors import WiseftError
from wiseft_core.evaluate import evaluation, results, sweep
from wiseft_core.evaluate.sweep import SweepConfig, run_sweep
from wiseft_core.files.checkpoints import save_classifier
from wiseft_core.files.images import open_image
from wiseft_core.train.zeroshot import build_zeroshot_checkpoint, load_classnames


@pytest.fixture(scope="module")
def folders(tmp_path_factory, tiny_vit):
    _, meta, _ = tiny_vit
    root = tmp_path_factory.mktemp("sweep_data")
    ref = image_folder(root / "ref", meta.classnames, per_class=3, seed=1)
    shift = image_folder(root / "shift", meta.classnames, per_class=2, seed=2)
    return [f"folder={ref}", f"folder={shift}"]


@pytest.fixture(scope="module")
def linear_pair(tmp_path_factory, tiny_vit, folders):
    """A linear-classifier fine-tune: same tower, a nearest-centroid head fitted on the reference folder."""
    classifier, meta, _ = tiny_vit
    folder = tmp_path_factory.mktemp("lc")
    loaded = load_dataset(folders[0])
    features, labels = evaluation.image_features(
        classifier, evaluation.iterate_batches(loaded, meta.preprocessing.eval_transform()), torch.device("cpu"))
    centroids = torch.stack([features[labels == c].mean(0) for c in range(len(meta.classnames))])
    finetuned = copy.deepcopy(classifier)
    with torch.no_grad():
        finetuned.head.weight.copy_(50 * (centroids - centroids.mean(0)))
        finetuned.head.bias.fill_(0.1)
    save_classifier(folder / "zs.safetensors", classifier, meta)
    save_classifier(folder / "lc.safetensors", finetuned, meta)
    return str(folder / "zs.safetensors"), str(folder / "lc.safetensors")


def test_alpha_ranges_include_stop_and_hold_the_exact_decimal_values():
    alphas = parse_alphas("0:1:0.05")
    assert len(alphas) == 21 and alphas[0] == 0.0 and alphas[-1] == 1.0 and alphas[7] == 0.35
    assert alphas[3] == 0.15 and alphas[19] == 0.95  # not 0.15000000000000002 / 0.9500000000000001
    assert parse_alphas("0,0.5,1") == [0.0, 0.5, 1.0]
    assert parse_alphas("0.12345,0.5") == [0.12345, 0.5]
    assert parse_alphas("0:1:0.6") == [0.0, 0.6]  # STOP is never exceeded
    assert parse_alphas("-0.5:1.5:0.5") == [-0.5, 0.0, 0.5, 1.0, 1.5]
    assert parse_alphas("-0,0") == [0.0]
    assert len(parse_alphas("0:1:0.0001")) == 10_001
    assert parse_ensembles(["weights,outputs"]) == ["weights", "outputs"]
    assert parse_ensembles(["outputs", "weights"]) == ["outputs", "weights"]
    with pytest.raises(WiseftError, match="--ensemble 'both'"):
        parse_ensembles(["both"])


@pytest.mark.parametrize(("spec", "message"), [
    ("0:1", "expected START:STOP:STEP"),
    ("nan", "'nan': nan is not a finite number"),
    ("inf", "not a finite number"),
    ("0,-inf", "not a finite number"),
    ("0:inf:1", "not a finite number"),
    ("1e308", "outside \\[-10, 10\\]"),
    ("0:11:1", "outside \\[-10, 10\\]"),
    ("0:1:1e-12", "more than 10,001 alphas"),
    ("0:1:0.00009999", "more than 10,001 alphas"),
    ("0:1:1e-999999999", "more than 10,001 alphas"),
    ("1:0:0.1", "STEP > 0 and STOP >= START"),
    ("0:1:0", "STEP > 0"),
    ("0,half", "'half' is not a number"),
    (",", "gives no alpha"),
])
def test_alpha_specs_that_are_not_finite_in_range_and_bounded_are_one_line_errors(spec, message):
    with pytest.raises(WiseftError, match=message) as caught:
        parse_alphas(spec)
    assert "\n" not in str(caught.value)


def test_alphas_are_written_exactly_and_a_rerun_matches_them(tmp_path, tiny_pair_files, folders):
    zs, ft, _ = tiny_pair_files
    out = tmp_path / "exact.csv"
    config = SweepConfig(zeroshot=str(zs), finetuned=str(ft), evals=folders[:1], out=str(out),
                         alphas=parse_alphas("0.12345,0.5,1"), progress=False)
    assert len(run_sweep(config)) == 3
    for _ in range(2):
        assert run_sweep(config) == []
    lines = out.read_text().splitlines()
    assert [line.split(",")[2] for line in lines[1:]] == ["0.12345", "0.5", "1"]
    config.alphas = [0.1234, 0.12345]  # 0.1234 is another alpha, not a rounding of 0.12345
    assert [r["alpha"] for r in run_sweep(config)] == [0.1234]
    assert len(results.read_sweep_csv(out)) == 4


def test_resume_drops_a_torn_final_row_with_a_warning_and_measures_it_again(tmp_path, tiny_pair_files, folders,
                                                                           capsys):
    zs, ft, _ = tiny_pair_files
    out = tmp_path / "torn.csv"
    config = SweepConfig(zeroshot=str(zs), finetuned=str(ft), evals=folders[:1], out=str(out),
                         alphas=[0.0, 0.5, 1.0], progress=False)
    run_sweep(config)
    complete = out.read_bytes()
    last_row = complete.rstrip(b"\r\n").rsplit(b"\n", 1)[1]
    cuts = {len(complete) - 1: [1.0],  # only the final "\n" missing
            len(complete) - len(last_row) // 2: [1.0],  # mid-row
            len(complete) - len(last_row) - 3: [0.5, 1.0]}  # the previous row lost its "\n"
    for cut, measured in cuts.items():
        out.write_bytes(complete[:cut])
        capsys.readouterr()
        again = run_sweep(config)
        assert [r["alpha"] for r in again] == measured
        assert "ended in a torn row" in capsys.readouterr().err
        assert out.read_bytes() == complete
    out.write_bytes(complete[:20])  # killed while the header was written
    assert len(run_sweep(config)) == 3 and out.read_bytes() == complete


def test_a_damaged_or_foreign_sweep_csv_is_refused_before_anything_is_appended(tmp_path, tiny_pair_files, folders):
    zs, ft, _ = tiny_pair_files
    header = ",".join(results.SWEEP_COLUMNS) + "\r\n"
    row = "m,end-to-end,0.5,weights,x,reference,50.0000,10\r\n"
    cases = {
        "glued.csv": (header + row.strip() + row + row, "line 2: 15 fields, expected 8"),
        "foreign.csv": ("a,b,c\r\n1,2,3\r\n", "is not a wiseft sweep CSV \\(header 'a,b,c'"),
        "latin1.csv": (None, "is not a UTF-8 sweep CSV"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(text.encode() if text else (header + row.replace("x", "caf\xe9")).encode("latin-1"))
        before = path.read_bytes()
        with pytest.raises(WiseftError, match=message):
            run_sweep(SweepConfig(zeroshot=str(zs), finetuned=str(ft), evals=folders[:1], out=str(path),
                                  alphas=[0.0], progress=False))
        assert path.read_bytes() == before


# The child appends through the real sweep code, but every character reaches the file on its own
# (flushed, 2 ms apart), so a kill lands mid-row the way a kill during a large buffered write would.
SLOW_WRITER = """
import pathlib, sys, time
real_open = pathlib.Path.open

class Slow:
    def __init__(self, handle):
        self.handle = handle
    def write(self, text):
        for char in text:
            self.handle.write(char)
            self.handle.flush()
            time.sleep(0.002)
        return len(text)
    def __getattr__(self, name):
        return getattr(self.handle, name)
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        return self.handle.__exit__(*exc)

def slow_open(self, mode="r", *args, **kwargs):
    handle = real_open(self, mode, *args, **kwargs)
    return Slow(handle) if "a" in mode and self.suffix == ".csv" else handle

pathlib.Path.open = slow_open
from wiseft_core.cli.dispatch import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_a_sweep_killed_mid_write_at_random_points_resumes_to_the_uninterrupted_csv(tmp_path, tiny_pair_files,
                                                                                    folders):
    zs, ft, _ = tiny_pair_files
    alphas = "0:1:0.125"
    reference = tmp_path / "reference.csv"
    run_sweep(SweepConfig(zeroshot=str(zs), finetuned=str(ft), evals=folders[:1], out=str(reference),
                          alphas=parse_alphas(alphas), ensembles=["weights", "outputs"], progress=False))
    expected = reference.read_bytes()
    out = tmp_path / "killed.csv"
    argv = [sys.executable, "-c", SLOW_WRITER, "sweep", "--zeroshot", str(zs), "--finetuned", str(ft),
            "--eval", folders[0], "--alphas", alphas, "--ensemble", "weights,outputs", "--out", str(out), "--quiet"]
    rng = random.Random(20261130)
    torn_kills, warnings = 0, 0
    for _ in range(4):
        size = out.stat().st_size if out.exists() else 0
        target = rng.randrange(size + 1, len(expected))  # a random byte of what is still to be written
        child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        while child.poll() is None and (not out.exists() or out.stat().st_size < target):
            time.sleep(0.0005)
        child.send_signal(signal.SIGKILL)
        warnings += "ended in a torn row" in child.communicate()[1].decode()
        torn_kills += not out.read_bytes().endswith(b"\n")
    finished = subprocess.run(argv, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    warnings += "ended in a torn row" in finished.stderr
    assert torn_kills >= 1 and warnings == torn_kills
    assert out.read_bytes() == expected


def test_sweep_writes_one_long_format_row_per_alpha_dataset_and_ensemble(tmp_path, tiny_pair_files, folders):
    zs, ft, meta = tiny_pair_files
    out = tmp_path / "results.csv"
    rows = run_sweep(SweepConfig(zeroshot=str(zs), finetuned=str(ft), evals=folders, out=str(out),
                                 alphas=[0.0, 0.5, 1.0], ensembles=["weights", "outputs"], progress=False))
    saved = results.read_sweep_csv(out)
    assert len(rows) == len(saved) == 2 * 3 * 2
    assert list(saved[0]) == results.SWEEP_COLUMNS
    assert {r["dataset"] for r in saved} == set(folders)
    assert {r["role"] for r in saved if r["dataset"] == folders[0]} == {"reference"}
    assert {r["role"] for r in saved if r["dataset"] == folders[1]} == {"shift"}
    assert {(r["model"], r["finetuning"]) for r in saved} == {(meta.model_name, "end-to-end")}
    assert {r["n"] for r in saved if r["dataset"] == folders[0]} == {15}
    by_key = {(r["ensemble"], r["alpha"], r["dataset"]): r["top1"] for r in saved}
    for dataset in folders:  # both ensembles are the endpoints themselves at alpha 0 and 1
        assert by_key[("weights", 0.0, dataset)] == by_key[("outputs", 0.0, dataset)]
        assert by_key[("weights", 1.0, dataset)] == by_key[("outputs", 1.0, dataset)]


def test_a_rerun_skips_finished_rows_and_measures_only_missing_ones(tmp_path, tiny_pair_files, folders):
    zs, ft, _ = tiny_pair_files
    out = tmp_path / "results.csv"
    config = SweepConfig(zeroshot=str(zs), finetuned=str(ft), evals=folders[:1], out=str(out),
                         alphas=[0.0, 1.0], progress=False)
    first = run_sweep(config)
    assert len(first) == 2
    assert run_sweep(config) == []
    config.alphas = [0.0, 0.5, 1.0]
    again = run_sweep(config)
    assert [r["alpha"] for r in again] == [0.5]
    assert len(results.read_sweep_csv(out)) == 3


def test_linear_classifier_fast_path_equals_the_slow_path(tmp_path, linear_pair, folders):
    zs, lc = linear_pair
    common = dict(zeroshot=zs, finetuned=lc, evals=folders, alphas=parse_alphas("0:1:0.25"),
                  ensembles=["weights", "outputs"], progress=False)
    fast = run_sweep(SweepConfig(out=str(tmp_path / "fast.csv"), **common))
    slow = run_sweep(SweepConfig(out=str(tmp_path / "slow.csv"), force_slow_path=True, **common))

    def table(rows):
        return {(r["ensemble"], r["alpha"], r["dataset"]): (r["top1"], r["n"]) for r in rows}

    assert table(fast) == table(slow)
    assert {r["finetuning"] for r in fast} == {"linear classifier"}  # inferred: only the head differs
    # A linear head makes the weight- and output-space ensembles identical (the paper's LC observation).
    assert all(table(fast)[("weights", a, d)] == table(fast)[("outputs", a, d)]
               for _, a, d in table(fast))
    assert len({v for k, v in table(fast).items() if k[2] == folders[0]}) > 1  # the curve is not flat


def test_reference_flag_and_unknown_reference(tmp_path, tiny_pair_files, folders):
    zs, ft, _ = tiny_pair_files
    rows = run_sweep(SweepConfig(zeroshot=str(zs), finetuned=str(ft), evals=folders, out=str(tmp_path / "r.csv"),
                                 alphas=[0.0], reference=folders[1], finetuning="linear", progress=False))
    assert {(r["dataset"], r["role"]) for r in rows} == {(folders[0], "shift"), (folders[1], "reference")}
    assert {r["finetuning"] for r in rows} == {"linear classifier"}
    with pytest.raises(WiseftError, match="--reference 'imagenet' matches none"):
        run_sweep(SweepConfig(zeroshot=str(zs), finetuned=str(ft), evals=folders, out=str(tmp_path / "x.csv"),
                              alphas=[0.0], reference="imagenet", progress=False))


def test_a_dataset_whose_classes_do_not_fit_the_head_fails_before_any_row(tmp_path, tiny_pair_files):
    zs, ft, _ = tiny_pair_files
    spec = f"folder={image_folder(tmp_path / 'three', ['a', 'b', 'c'], per_class=1)}"
    with pytest.raises(WiseftError, match="needs a classifier with 3 outputs"):
        run_sweep(SweepConfig(zeroshot=str(zs), finetuned=str(ft), evals=[spec], out=str(tmp_path / "r.csv"),
                              alphas=[0.0], progress=False))
    assert not (tmp_path / "r.csv").exists()


def test_cli_sweep_prints_the_paper_style_summary(tmp_path, linear_pair, folders, capsys):
    zs, lc = linear_pair
    out = tmp_path / "cli.csv"
    argv = ["sweep", "--zeroshot", zs, "--finetuned", lc, "--alphas", "0,0.5,1", "--ensemble", "weights",
            "--ensemble", "outputs", "--out", str(out), "--quiet"]
    for spec in folders:
        argv += ["--eval", spec]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "Avg shifts" in printed and "Avg ref., shifts" in printed and "linear classifier" in printed
    assert len(results.read_sweep_csv(out)) == 12
    assert main(["sweep", "--zeroshot", zs, "--finetuned", lc, "--eval", "imagenet=/nowhere", "--out",
                 str(out), "--quiet"]) == 2
    assert "folder not found: /nowhere" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_world_distributions_sweep_with_photo_as_the_reference(tmp_path):

    classifier, meta, _ = make_classifier("wiseft-test-vit", TINY_VIT, seed=0, classnames=world.CLASSNAMES)
    save_classifier(tmp_path / "zs.safetensors", classifier, meta)
    rows = run_sweep(SweepConfig(zeroshot=str(tmp_path / "zs.safetensors"), finetuned=str(tmp_path / "zs.safetensors"),
                                 evals=["demo:sketch", "demo:photo"], out=str(tmp_path / "demo.csv"), alphas=[0.0, 1.0],
                                 progress=False))
    assert {(r["dataset"], r["role"]) for r in rows} == {("demo:sketch", "shift"), ("demo:photo", "reference")}
    assert {r["n"] for r in rows} == {len(world.demo_dataset("photo"))}
    assert rows[0]["top1"] == rows[1]["top1"]  # identical endpoints


@pytest.fixture(scope="module")
def imagenet_classifier(tmp_path_factory):
    """A tiny random ViT with a 1000-class ImageNet zero-shot head (class names from open_clip)."""

    path = tmp_path_factory.mktemp("in1k") / "zs.safetensors"
    # One template keeps the 1000-class head quick to build.
    built = build_zeroshot_checkpoint("wiseft-test-vit", load_classnames("imagenet"), ["{}"], seed=0,
                                      model_config=TINY_VIT, out=path)
    return built.classifier, built.meta, path


@pytest.mark.parametrize("kind", ["imagenet-v2", "imagenet-r", "objectnet"])
def test_shifted_imagenet_layouts_score_exactly_the_known_fraction(tmp_path, imagenet_classifier, kind):
    """Half of the images are filed under the class the model predicts (after the projection): 50 % top-1."""
    classifier, meta, zs = imagenet_classifier
    folder_of = {
        "imagenet-v2": (lambda label: str(label), None, 0),
        "imagenet-r": (lambda label: projections.imagenet_wnids()[projections.imagenet_r_indices()[label]],
                       projections.imagenet_r_projection(), 0),
        "objectnet": (lambda label: list(projections.objectnet_mapping())[label],
                      projections.objectnet_projection(), 2),
    }[kind]
    name, projection, border = folder_of
    transform = meta.preprocessing.eval_transform()
    root = tmp_path / "data"
    for i in range(6):
        image_folder(tmp_path / f"s{i}", [f"c{i}"], per_class=1, seed=100 + i)
    scratch = [tmp_path / f"s{i}" / f"c{i}" / "img_0.png" for i in range(6)]
    for i, path in enumerate(scratch):
        image = open_image(path)
        cropped = image.crop((border, border, image.width - border, image.height - border))
        with torch.no_grad():
            logits = classifier(transform(cropped)[None])
        predicted = int((projection(logits) if projection else logits).argmax())
        label = predicted if i % 2 == 0 else (predicted + 1) % (projection.num_outputs if projection else 1000)
        target = root / ("images" if kind == "objectnet" else "") / name(label)
        target.mkdir(parents=True, exist_ok=True)
        (target / f"{i}.png").write_bytes(path.read_bytes())
    rows = run_sweep(SweepConfig(zeroshot=str(zs), finetuned=str(zs), evals=[f"{kind}={root}"], alphas=[0.0],
                                 ensembles=["weights", "outputs"], out=str(tmp_path / "r.csv"), progress=False))
    assert [(r["top1"], r["n"]) for r in rows] == [(50.0, 6), (50.0, 6)]


@pytest.mark.parametrize(("option", "message"), [
    ("--alphas=nan", "--alphas 'nan': nan is not a finite number"),
    ("--alphas=0:1:1e-12", "--alphas '0:1:1e-12' gives more than 10,001 alphas (use a larger STEP)"),
    ("--batch-size=0", "--batch-size 0: must be at least 1"),
    ("--cache-gb=nan", "--cache-gb nan: must be a finite number at least 0"),
])
def test_cli_sweep_options_out_of_range_exit_2_with_one_line(tmp_path, tiny_pair_files, folders, capsys, option,
                                                            message):
    zs, ft, _ = tiny_pair_files
    out = tmp_path / "r.csv"
    argv = ["sweep", "--zeroshot", str(zs), "--finetuned", str(ft), "--eval", folders[0], "--out", str(out),
            option, "--quiet"]
    assert main(argv) == 2
    assert capsys.readouterr().err == f"wiseft: error: {message}\n"
    assert not out.exists()


def test_no_objectnet_crop_evaluates_objectnet_uncropped_like_the_reference_code(tmp_path, imagenet_classifier,
                                                                                 monkeypatch):
    _, _, zs = imagenet_classifier
    folder = tmp_path / "objectnet" / "images" / list(projections.objectnet_mapping())[0]
    image_folder(tmp_path / "scratch", ["c"], per_class=1)
    folder.mkdir(parents=True)
    (folder / "0.png").write_bytes((tmp_path / "scratch" / "c" / "img_0.png").read_bytes())
    borders = []
    real_cache = evaluation.BatchCache

    def recording_cache(loaded, *args, **kwargs):
        borders.append(loaded.crop_border)
        return real_cache(loaded, *args, **kwargs)

    monkeypatch.setattr(sweep.evaluation, "BatchCache", recording_cache)
    for crop in (True, False):
        run_sweep(SweepConfig(zeroshot=str(zs), finetuned=str(zs), evals=[f"objectnet={tmp_path / 'objectnet'}"],
                              alphas=[0.0], out=str(tmp_path / f"{crop}.csv"), objectnet_crop=crop, progress=False))
    assert borders == [2, 0]
