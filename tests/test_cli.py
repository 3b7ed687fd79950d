"""The CLI contract end to end, through `main(argv)` (the same code the `wiseft` script runs)."""

import json
import subprocess
import sys

import pytest
import torch
from PIL import Image

from wiseft_core.cli.dispatch import main
from wiseft_core.engine.interpolation import interpolate_state_dicts
from wiseft_core.files.checkpoints import read_meta
from wiseft_core.files.reader import load_classifier


@pytest.fixture
def image_files(tmp_path):
    paths = []
    for i, colour in enumerate([(255, 0, 0), (0, 200, 0)]):
        path = tmp_path / f"img{i}.png"
        Image.new("RGB", (40, 30), colour).save(path)
        paths.append(str(path))
    return paths


def test_zeroshot_writes_a_checkpoint_with_complete_metadata(tmp_path, capsys):
    (tmp_path / "classes.txt").write_text("cat\ndog\nbird\n")
    out = tmp_path / "zs.safetensors"
    assert main(["zeroshot", "--model", "ViT-S-32", "--pretrained", "none", "--seed", "7",
                 "--classnames", str(tmp_path / "classes.txt"), "--templates", "simple", "--out", str(out)]) == 0
    meta = read_meta(out)
    assert meta.model_name == "ViT-S-32" and meta.pretrained is None and meta.templates == "openclip-simple"
    assert meta.classnames == ["cat", "dog", "bird"] and meta.preprocessing.image_size == 224
    assert meta.extra == {"seed": 7}
    loaded = load_classifier(out)
    assert loaded.model.head.weight.shape == (3, 384)
    assert "3 classes" in capsys.readouterr().out


def test_interpolate_saves_the_formula_and_the_recipe(tiny_pair_files, tmp_path):
    zs, ft, _ = tiny_pair_files
    out = tmp_path / "m.safetensors"
    assert main(["interpolate", "--zeroshot", str(zs), "--finetuned", str(ft), "--alpha", "0.4",
                 "--block-alpha", "head=1.0", "--out", str(out)]) == 0
    merged = load_classifier(out)
    theta0 = load_classifier(zs).model.state_dict()
    theta1 = load_classifier(ft).model.state_dict()
    expected = interpolate_state_dicts(theta0, theta1, 0.4, [("head", 1.0)])
    for key, value in merged.model.state_dict().items():
        assert torch.equal(value, expected[key]), key
    recipe = merged.meta.recipe
    assert recipe["alpha"] == 0.4 and recipe["block_alphas"] == [["head", 1.0]]
    assert recipe["zeroshot_sha256"] == load_classifier(zs).sha256 and len(recipe["finetuned_sha256"]) == 64


def test_predict_is_deterministic_and_follows_alpha(tiny_pair_files, image_files, capsys):
    zs, ft, meta = tiny_pair_files

    def run(alpha, ensemble="weights"):
        assert main(["predict", "--zeroshot", str(zs), "--finetuned", str(ft), "--alpha", str(alpha),
                     "--ensemble", ensemble, "--top-k", "5", "--json", *image_files]) == 0
        return json.loads(capsys.readouterr().out)

    first, again = run(0.5), run(0.5)
    assert first == again
    assert [e["class"] for e in first["predictions"][0]["top_k"]] and len(first["predictions"]) == 2
    probs0 = [e["prob"] for e in run(0.0)["predictions"][0]["top_k"]]
    probs1 = [e["prob"] for e in run(1.0)["predictions"][0]["top_k"]]
    assert probs0 != probs1
    assert sum(e["prob"] for e in first["predictions"][0]["top_k"]) == pytest.approx(1.0, abs=1e-5)
    assert run(0.0, "outputs")["predictions"] == run(0.0)["predictions"]


def test_inspect_reports_every_block(tiny_pair_files, capsys):
    zs, ft, _ = tiny_pair_files
    assert main(["inspect", "--zeroshot", str(zs), "--finetuned", str(ft), "--json"]) == 0
    blocks = json.loads(capsys.readouterr().out)["blocks"]
    assert [b["block"] for b in blocks] == ["embeddings", "block0", "block1", "block2", "post", "head"]
    assert all(b["rel_change"] > 0 and -1 <= b["cosine"] <= 1 for b in blocks)


def test_errors_exit_non_zero_with_one_line_and_no_traceback(tmp_path, tiny_pair_files, capsys):
    zs, _, _ = tiny_pair_files
    (tmp_path / "bad.safetensors").write_bytes(b"not a checkpoint at all")
    code = main(["inspect", "--zeroshot", str(zs), "--finetuned", str(tmp_path / "bad.safetensors")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("wiseft: error:") and err.count("\n") == 1 and "Traceback" not in err


def test_mismatched_pair_names_the_offending_keys(tmp_path, tiny_pair_files, capsys):
    zs, _, _ = tiny_pair_files
    (tmp_path / "c.txt").write_text("a\nb\n")
    other = tmp_path / "other.safetensors"
    main(["zeroshot", "--model", "ViT-S-32", "--pretrained", "none", "--classnames", str(tmp_path / "c.txt"),
          "--templates", "simple", "--out", str(other)])
    capsys.readouterr()
    out = tmp_path / "never.safetensors"
    assert main(["interpolate", "--zeroshot", str(zs), "--finetuned", str(other), "--alpha", "0.5",
                 "--out", str(out)]) == 2
    assert "different classes" in capsys.readouterr().err
    assert not out.exists()


def test_python_dash_m_runs_the_same_cli():
    result = subprocess.run([sys.executable, "-m", "wiseft_core", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for command in ["zeroshot", "interpolate", "predict", "inspect"]:
        assert command in result.stdout


def test_a_sweep_that_fails_at_once_prints_its_one_line_and_no_progress_bar(tmp_path, capsys):
    from wiseft_core.cli.dispatch import main as wiseft
    from wiseft_core.demo.assets import DEMO_FINETUNED, DEMO_ZEROSHOT

    code = wiseft(["sweep", "--zeroshot", str(DEMO_ZEROSHOT), "--finetuned", str(DEMO_FINETUNED),
                   "--eval", f"folder={tmp_path / 'missing'}", "--out", str(tmp_path / "r.csv")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") <= 1 and "sweep:" not in err and "folder not found" in err
