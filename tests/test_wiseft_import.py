"""Checkpoints written the way the reference WiSE-FT code writes them load directly, safely and exactly.

The files come from ``tests/wiseft_reference.py``: raw ``pickle.dump`` (protocol 4) of
``src.models.modeling.ImageClassifier`` around ``clip.model.CLIP``, text leftovers and transforms
included, on a tiny OpenAI-layout ViT and a tiny ModifiedResNet. Numbers are compared with that
module's own plain-PyTorch forward of the same weights.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import sys
from pathlib import Path

import open_clip
import pytest
import torch
import wiseft_reference as ref
from PIL import Image
from safetensors import safe_open

from wiseft_core.cli.dispatch import main
from wiseft_core.engine.pair import load_pair
from wiseft_core.errors import WiseftError
from wiseft_core.files.checkpoints import file_sha256, load_classifier, save_classifier
from wiseft_core.files.safe_pickle import RefusedGlobal, read_pickled
from wiseft_core.files.wiseft_import import infer_model_config, meta_for

CLASSES = ["cat", "dog", "bird", "fish", "horse"]
ARCHS = {"vit": ref.TINY_VIT, "resnet": ref.TINY_RESNET}


@pytest.fixture(scope="module", params=sorted(ARCHS))
def run(request, tmp_path_factory):
    """A wise-ft output folder: zeroshot.pt, finetuned/checkpoint_1.pt, wise_ft_alpha=0.500.pt, plus variants."""
    arch = ARCHS[request.param]
    folder = tmp_path_factory.mktemp(f"wiseft_{request.param}")
    zeroshot = ref.zeroshot_classifier(arch, len(CLASSES), seed=0)
    finetuned = ref.finetuned_from(zeroshot, seed=1)
    (folder / "finetuned").mkdir()
    ref.save_raw_pickle(zeroshot, folder / "zeroshot.pt")
    ref.save_raw_pickle(finetuned, folder / "finetuned" / "checkpoint_1.pt")
    ref.save_raw_pickle(ref.merged(zeroshot, finetuned, 0.5), folder / "wise_ft_alpha=0.500.pt")
    torch.save(finetuned.state_dict(), folder / "state_dict.pt")
    torch.save({f"module.{k}": v for k, v in finetuned.state_dict().items()}, folder / "ddp.pt")
    torch.save(finetuned.state_dict(), folder / "legacy.pt", _use_new_zipfile_serialization=False)
    torch.save(ref.visual_openclip_layout(finetuned), folder / "openclip_layout.pt")
    ref.save_torch_model(finetuned, folder / "torch_save_model.pt")
    optimizer = torch.optim.AdamW(finetuned.parameters())
    torch.save(optimizer.state_dict(), folder / "finetuned" / "optim_1.pt")
    size = arch["image_resolution"]
    images = torch.randn(3, 3, size, size, generator=torch.Generator().manual_seed(5))
    return {"name": request.param, "arch": arch, "folder": folder, "zeroshot": zeroshot, "finetuned": finetuned,
            "images": images}


@torch.no_grad()
def our_logits(pair, alpha: float, images: torch.Tensor) -> torch.Tensor:
    live = pair.new_interpolator()
    live.set_alpha(alpha)
    return live.model(images)


def test_a_wiseft_pair_loads_without_trust_pickle_and_matches_the_reference_forward(run):
    folder = run["folder"]
    pair = load_pair(folder / "zeroshot.pt", folder / "finetuned" / "checkpoint_1.pt", classnames=CLASSES)
    for alpha in (0.0, 0.5, 1.0):
        expected = ref.logits(ref.merged(run["zeroshot"], run["finetuned"], alpha), run["images"])
        difference = (our_logits(pair, alpha, run["images"]) - expected).abs().max().item()
        assert difference <= 1e-5, (alpha, difference)
    assert pair.classnames == CLASSES


def test_the_reference_merge_file_equals_our_merge_at_the_same_alpha(run):
    folder = run["folder"]
    pair = load_pair(folder / "zeroshot.pt", folder / "finetuned" / "checkpoint_1.pt", classnames=CLASSES)
    theirs = load_classifier(folder / "wise_ft_alpha=0.500.pt", like=pair.meta).model.state_dict()
    ours = pair.merged_checkpoint(0.5).state_dict
    assert set(theirs) == set(ours)
    assert max((theirs[k].float() - ours[k].float()).abs().max().item() for k in ours) <= 1e-6


def test_the_architecture_is_inferred_from_shapes_like_openais_build_model(run):
    loaded = load_classifier(run["folder"] / "zeroshot.pt", classnames=CLASSES)
    config, arch = loaded.meta.model_config, run["arch"]
    vision = config["vision_cfg"]
    assert config["quick_gelu"] is True and config["embed_dim"] == arch["embed_dim"]
    assert vision["width"] == arch["vision_width"] and vision["image_size"] == arch["image_resolution"]
    assert vision["layers"] == arch["vision_layers"] and vision.get("patch_size") == arch["vision_patch_size"]
    heads = arch["vision_width"] // 64 if run["name"] == "vit" else arch["vision_width"] * 32 // 64
    tower = loaded.model.image_encoder
    attention = tower.transformer.resblocks[0].attn if run["name"] == "vit" else tower.attnpool
    assert attention.num_heads == heads
    assert loaded.meta.extra["imported_from"] == "wise-ft (src.models.modeling.ImageClassifier)"


def test_text_leftovers_are_dropped_and_the_head_is_ours(run):
    file_keys = set(read_pickled(run["folder"] / "zeroshot.pt", "zeroshot.pt", "pickle").state_dict)
    leftovers = {f"image_encoder.model.{k}" for k in ("token_embedding.weight", "positional_embedding",
                                                       "ln_final.weight", "ln_final.bias", "text_projection",
                                                       "logit_scale")}
    assert leftovers <= file_keys and not any(".transformer.resblocks" in k and ".visual." not in k
                                              for k in file_keys)
    loaded = load_classifier(run["folder"] / "zeroshot.pt", classnames=CLASSES)
    keys = set(loaded.model.state_dict())
    assert all(k.startswith(("image_encoder.", "head.")) for k in keys) and "head.bias" in keys
    assert torch.equal(loaded.model.head.weight, run["zeroshot"].classification_head.weight.detach())


def test_preprocessing_is_openai_clips_and_transforms_images_like_the_reference(run):
    loaded = load_classifier(run["folder"] / "zeroshot.pt", classnames=CLASSES)
    prep = loaded.meta.preprocessing
    assert prep.interpolation == "bicubic" and prep.image_size == run["arch"]["image_resolution"]
    assert prep.mean == pytest.approx(open_clip.OPENAI_DATASET_MEAN) and prep.std == pytest.approx(
        open_clip.OPENAI_DATASET_STD)
    image = Image.frombytes("RGB", (57, 43), bytes(range(256)) * (57 * 43 * 3 // 256 + 1))
    theirs = run["zeroshot"].val_preprocess(image)
    assert torch.allclose(prep.eval_transform()(image), theirs, atol=1e-6)


@pytest.mark.parametrize("variant", ["state_dict.pt", "ddp.pt", "legacy.pt", "torch_save_model.pt",
                                     "openclip_layout.pt"])
def test_other_ways_of_saving_the_same_model_load_as_the_fine_tuned_side(run, variant):
    folder = run["folder"]
    pair = load_pair(folder / "zeroshot.pt", folder / variant, classnames=CLASSES)
    expected = ref.logits(run["finetuned"], run["images"])
    assert (our_logits(pair, 1.0, run["images"]) - expected).abs().max().item() <= 1e-5


@pytest.mark.parametrize("variant", ["state_dict.pt", "ddp.pt", "legacy.pt", "torch_save_model.pt"])
def test_wiseft_state_dicts_and_models_also_load_on_their_own(run, variant):
    loaded = load_classifier(run["folder"] / variant, classnames=CLASSES)
    assert loaded.meta.quick_gelu and loaded.meta.classnames == CLASSES


def test_class_names_default_to_imagenet_for_1000_classes_and_are_asked_for_otherwise(tmp_path):
    zeroshot = ref.zeroshot_classifier(ref.TINY_VIT, 1000, seed=3)
    ref.save_raw_pickle(zeroshot, tmp_path / "imagenet.pt")
    names = load_classifier(tmp_path / "imagenet.pt").meta.classnames
    assert len(names) == 1000 and names[0] == "tench"
    ref.save_raw_pickle(ref.zeroshot_classifier(ref.TINY_VIT, 5, seed=3), tmp_path / "five.pt")
    with pytest.raises(WiseftError, match=r"5-class head .* pass --classnames FILE"):
        load_classifier(tmp_path / "five.pt")
    with pytest.raises(WiseftError, match=r"5-class head but 3 class names"):
        load_classifier(tmp_path / "five.pt", classnames=["a", "b", "c"])
    (tmp_path / "names.txt").write_text("\n".join(CLASSES) + "\n")
    assert load_classifier(tmp_path / "five.pt", classnames=str(tmp_path / "names.txt")).meta.classnames == CLASSES


def test_a_gelu_zero_shot_side_is_never_paired_with_a_quickgelu_wiseft_file(tmp_path):
    from dataclasses import replace

    zeroshot = ref.zeroshot_classifier(ref.TINY_VIT, 5, seed=0)
    ref.save_raw_pickle(ref.finetuned_from(zeroshot, seed=1), tmp_path / "checkpoint_1.pt")
    imported = load_classifier(ref.save_raw_pickle(zeroshot, tmp_path / "zeroshot.pt"), classnames=CLASSES)
    gelu = replace(imported.meta, model_config={**imported.meta.model_config, "quick_gelu": False})
    save_classifier(tmp_path / "gelu_zeroshot.safetensors", imported.model, gelu)
    with pytest.raises(WiseftError, match=r"QuickGELU\) but the zero-shot side uses GELU"):
        load_pair(tmp_path / "gelu_zeroshot.safetensors", tmp_path / "checkpoint_1.pt")


def test_a_gelu_tower_in_a_pickle_is_read_as_gelu(tmp_path):
    model = ref.zeroshot_classifier(ref.TINY_VIT, 5, seed=0, activation=torch.nn.GELU)
    loaded = load_classifier(ref.save_raw_pickle(model, tmp_path / "gelu.pt"), classnames=CLASSES)
    assert loaded.meta.quick_gelu is False
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert (loaded.model(images) - ref.logits(model, images)).abs().max().item() <= 1e-5


class _Payload:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_look_alike_pickle_with_a_code_payload_fails_cleanly_and_runs_nothing(tmp_path, capsys):
    """The same class paths as a real wise-ft file, plus one transform that is really os.system."""
    marker = tmp_path / "PWNED"
    model = ref.zeroshot_classifier(ref.TINY_VIT, 5, seed=0)
    model.val_preprocess.transforms.append(_Payload(marker))
    path = ref.save_raw_pickle(model, tmp_path / "zeroshot.pt")
    with pytest.raises(RefusedGlobal, match=r"refers to (os|posix)\.system.*nothing from the file was run") as info:
        load_classifier(path, classnames=CLASSES)
    assert "--trust-pickle" not in str(info.value)
    assert main(["convert", str(path), str(path), "--classnames", "imagenet", "--out-dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not marker.exists()


@pytest.mark.parametrize("payload", [
    (eval, ("__import__('os').system('touch {marker}')",)),
    (os.system, ("touch {marker}",)),
    (torch.load, ("{marker}",)),
    (__import__, ("subprocess",)),
])
def test_every_way_in_through_a_global_is_refused(tmp_path, payload):
    marker = tmp_path / "PWNED"
    function, args = payload
    args = tuple(a.format(marker=marker) if isinstance(a, str) else a for a in args)

    class Reduce:
        def __reduce__(self):
            return function, args

    (tmp_path / "x.pt").write_bytes(pickle.dumps({"state_dict": Reduce()}, protocol=4))
    with pytest.raises(RefusedGlobal, match="refused, nothing from the file was run"):
        load_classifier(tmp_path / "x.pt", classnames=CLASSES)
    assert not marker.exists()


def test_a_storage_that_claims_more_than_the_file_holds_is_refused(tmp_path):
    """Sizes are checked against the bytes present before a tensor is created."""
    buffer = io.BytesIO()
    pickle.dump({"head.weight": torch.zeros(16)}, buffer, protocol=4)
    data = bytearray(buffer.getvalue())
    # the embedded legacy stream stores the element count as int64 right before the raw data: claim 10^12
    count = (16).to_bytes(8, "little")
    where = data.rfind(count)
    data[where:where + 8] = (10 ** 12).to_bytes(8, "little")
    (tmp_path / "big.pt").write_bytes(bytes(data))
    with pytest.raises(WiseftError, match="big.pt"):
        read_pickled(tmp_path / "big.pt", "big.pt", "pickle")


def test_an_optimizer_state_is_not_mistaken_for_a_model(run):
    with pytest.raises(WiseftError, match="optim_1.pt"):
        load_classifier(run["folder"] / "finetuned" / "optim_1.pt", classnames=CLASSES)


def test_wiseft_convert_writes_safetensors_with_metadata_and_source_hashes(run, tmp_path, capsys):
    folder = run["folder"]
    (tmp_path / "names.txt").write_text("\n".join(CLASSES) + "\n")
    out = tmp_path / "converted"
    zs, ft = folder / "zeroshot.pt", folder / "finetuned" / "checkpoint_1.pt"
    assert main(["convert", str(zs), str(ft), "--classnames", str(tmp_path / "names.txt"),
                 "--out-dir", str(out)]) == 0
    assert "zeroshot.safetensors" in capsys.readouterr().out
    for name, source in (("zeroshot", zs), ("finetuned", ft)):
        with safe_open(str(out / f"{name}.safetensors"), framework="pt") as handle:
            meta = json.loads(handle.metadata()["wiseft"])
        assert meta["recipe"]["sha256"] == file_sha256(source) and meta["recipe"]["file"] == source.name
        assert meta["classnames"] == CLASSES and meta["model_config"]["quick_gelu"] is True
    converted = load_pair(out / "zeroshot.safetensors", out / "finetuned.safetensors")
    direct = load_pair(zs, ft, classnames=CLASSES)
    for alpha in (0.0, 0.5, 1.0):
        assert torch.equal(our_logits(converted, alpha, run["images"]), our_logits(direct, alpha, run["images"]))


def test_every_pair_command_takes_wiseft_files(run, tmp_path, capsys):
    folder = run["folder"]
    (tmp_path / "names.txt").write_text("\n".join(CLASSES) + "\n")
    pair = ["--zeroshot", str(folder / "zeroshot.pt"), "--finetuned", str(folder / "finetuned" / "checkpoint_1.pt"),
            "--classnames", str(tmp_path / "names.txt")]
    size = run["arch"]["image_resolution"]
    Image.new("RGB", (size + 7, size), (200, 30, 30)).save(tmp_path / "red.png")
    assert main(["predict", *pair, "--json", str(tmp_path / "red.png")]) == 0
    top = json.loads(capsys.readouterr().out)["predictions"][0]["top_k"]
    assert {e["class"] for e in top} == set(CLASSES)
    assert main(["inspect", *pair, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["blocks"][-1]["block"] == "head"
    assert main(["interpolate", *pair, "--alpha", "0.5", "--out", str(tmp_path / "m.safetensors")]) == 0
    merged = load_classifier(tmp_path / "m.safetensors").model.state_dict()
    theirs = load_classifier(folder / "wise_ft_alpha=0.500.pt", classnames=CLASSES).model.state_dict()
    assert max((merged[k].float() - theirs[k].float()).abs().max().item() for k in merged) <= 1e-6


def test_openai_model_names_are_recognised_from_shapes_alone():
    for name, expected in (("ViT-B-32", "ViT-B-32-quickgelu"), ("RN50", "RN50-quickgelu"),
                           ("ViT-L-14-336", "ViT-L-14-336-quickgelu")):
        config = open_clip.get_model_config(name)
        with torch.device("meta"):
            tower = open_clip.model._build_vision_tower(config["embed_dim"], config["vision_cfg"])
        tensors = {f"image_encoder.{k}": v for k, v in tower.state_dict().items()}
        tensors["head.weight"] = torch.empty(1000, config["embed_dim"], device="meta")
        assert infer_model_config(tensors, name)["vision_cfg"]["width"] == config["vision_cfg"]["width"]
        meta = meta_for(tensors, None, None, name, "test")
        assert meta.model_name == expected and meta.quick_gelu and len(meta.classnames) == 1000


def test_fixture_files_are_raw_protocol_4_pickles_with_the_reference_class_paths(run):
    data = (run["folder"] / "zeroshot.pt").read_bytes()
    assert data[:2] == b"\x80\x04" and not data.startswith(b"PK")
    for path in (b"src.models.modeling", b"ImageClassifier", b"clip.model", b"CLIP", b"QuickGELU"
                 if run["name"] == "vit" else b"ModifiedResNet", b"torchvision.transforms"):
        assert path in data
    assert "clip.model" not in sys.modules and "src.models.modeling" not in sys.modules


def test_an_operators_model_folder_can_name_the_classes_beside_the_file(tmp_path):
    """The app lists files from --models-dir; a classnames.txt there names a wise-ft head's classes."""
    ref.save_raw_pickle(ref.zeroshot_classifier(ref.TINY_VIT, 5, seed=0), tmp_path / "zeroshot.pt")
    (tmp_path / "classnames.txt").write_text("\n".join(CLASSES) + "\n")
    assert load_classifier(tmp_path / "zeroshot.pt").meta.classnames == CLASSES


def test_read_as_checkpoint_returns_what_save_classifier_takes(run, tmp_path):
    from wiseft_core.files.wiseft_import import read_as_checkpoint

    state_dict, meta = read_as_checkpoint(run["folder"] / "zeroshot.pt", classnames=CLASSES)
    save_classifier(tmp_path / "zs.safetensors", state_dict, meta)
    loaded = load_classifier(tmp_path / "zs.safetensors")
    assert loaded.meta.recipe["sha256"] == file_sha256(run["folder"] / "zeroshot.pt")
    assert torch.equal(loaded.model.head.weight, run["zeroshot"].classification_head.weight.detach())


def test_convert_refuses_a_file_as_out_dir_before_reading_anything(tmp_path, capsys):
    (tmp_path / "taken").write_text("x")
    code = main(["convert", str(tmp_path / "missing_zs.pt"), str(tmp_path / "missing_ft.pt"),
                 "--out-dir", str(tmp_path / "taken")])
    err = capsys.readouterr().err
    assert code == 2 and "--out-dir" in err and "is a file" in err and err.count("\n") == 1
