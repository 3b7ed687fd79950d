"""Hugging Face transformers CLIP checkpoints load as ours, exactly, without transformers at run time.

Built with the real ``transformers`` classes at random weights and saved with ``save_pretrained``
(config.json + model.safetensors, or pytorch_model.bin). The reference is transformers' own forward:
``get_image_features`` of the layout's interpolated vision weights, normalised, times the zero-shot
head built from ``get_text_features`` (80 OpenAI templates, open_clip's tokens: the same BPE), with
CLIP's logit scale; a tower-only fine-tune keeps the zero-shot head.
"""

from __future__ import annotations

import copy
import json

import open_clip
import pytest
import torch
from layout_checks import assert_matches_theirs, assert_same_pair, our_probabilities
from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES
from safetensors import safe_open
from safetensors.torch import save_file

from wiseft_core.cli.dispatch import main
from wiseft_core.engine.pair import load_pair
from wiseft_core.errors import WiseftError
from wiseft_core.files.reader import load_classifier

transformers = pytest.importorskip("transformers")

CLASSES = ["cat", "dog", "bird", "fish", "horse"]
TEXT = {"vocab_size": 49408, "hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 2,
        "num_hidden_layers": 1, "max_position_embeddings": 16, "projection_dim": 32}
VISION = {"hidden_size": 64, "intermediate_size": 256, "num_attention_heads": 2, "num_hidden_layers": 2,
          "image_size": 32, "patch_size": 8, "projection_dim": 32}


def hf_clip(seed: int, act: str = "quick_gelu"):
    torch.manual_seed(seed)
    config = transformers.CLIPConfig(text_config={**TEXT, "hidden_act": act},
                                     vision_config={**VISION, "hidden_act": act}, projection_dim=32)
    return transformers.CLIPModel(config).eval()


def moved(model, seed: int):
    model = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.add_(0.02 * torch.randn(tensor.shape, generator=generator))
    return model.eval()


def _tensor(out):
    return out if isinstance(out, torch.Tensor) else out.pooler_output


@torch.no_grad()
def their_head(model) -> torch.Tensor:
    """CLIP's zero-shot head from transformers' text tower: mean normalised prompt embedding x logit scale."""
    tokenizer = open_clip.SimpleTokenizer(context_length=TEXT["max_position_embeddings"])
    rows = []
    for name in CLASSES:
        ids = tokenizer([template(name) for template in OPENAI_IMAGENET_TEMPLATES])
        embedding = torch.nn.functional.normalize(_tensor(model.get_text_features(input_ids=ids)), dim=-1).mean(0)
        rows.append(embedding / embedding.norm())
    return torch.stack(rows) * model.logit_scale.exp()


@torch.no_grad()
def their_probabilities(vision_model, head: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    features = torch.nn.functional.normalize(_tensor(vision_model.get_image_features(pixel_values=images)), dim=-1)
    return (features @ head.T).softmax(-1)


def their_merge(zeroshot, finetuned, alpha: float):
    model = copy.deepcopy(finetuned)
    theta_0, theta_1 = zeroshot.state_dict(), finetuned.state_dict()
    model.load_state_dict({k: (1 - alpha) * theta_0[k] + alpha * theta_1[k] for k in theta_0})
    return model.eval()


@pytest.fixture(scope="module")
def hf(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hf")
    zeroshot, finetuned = hf_clip(0), None
    finetuned = moved(zeroshot, 1)
    zeroshot.save_pretrained(folder / "zeroshot")
    finetuned.save_pretrained(folder / "finetuned")
    finetuned.save_pretrained(folder / "finetuned_bin", safe_serialization=False)
    vision = transformers.CLIPVisionModelWithProjection(zeroshot.config.vision_config).eval()
    vision.load_state_dict({k: v for k, v in finetuned.state_dict().items()
                            if k.startswith(("vision_model.", "visual_projection."))})
    vision.save_pretrained(folder / "vision_ft")
    (folder / "zeroshot" / "classnames.txt").write_text("\n".join(CLASSES) + "\n")
    images = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    return {"folder": folder, "zeroshot": zeroshot, "finetuned": finetuned, "vision": vision, "images": images}


@torch.no_grad()
def test_a_clipmodel_folder_builds_its_zero_shot_head_from_its_text_tower(hf):
    loaded = load_classifier(hf["folder"] / "zeroshot")
    assert loaded.meta.templates == "openai" and loaded.meta.quick_gelu is True
    assert loaded.meta.classnames == CLASSES and "CLIPModel" in loaded.meta.extra["imported_from"]
    assert (loaded.model.head.weight - their_head(hf["zeroshot"])).abs().max().item() <= 1e-4
    with torch.no_grad():
        ours = loaded.model(hf["images"]).softmax(-1)
    expected = their_probabilities(hf["zeroshot"], their_head(hf["zeroshot"]), hf["images"])
    assert (ours - expected).abs().max().item() <= 1e-5


def test_a_pair_of_clipmodels_equals_transformers_forward_at_every_alpha(hf):
    """Each side is its tower + the head from its own text tower; the pair mixes towers and heads linearly."""
    folder = hf["folder"]
    pair = load_pair(folder / "zeroshot", folder / "finetuned")
    heads = their_head(hf["zeroshot"]), their_head(hf["finetuned"])
    assert_matches_theirs(pair, hf["images"], lambda alpha: their_probabilities(
        their_merge(hf["zeroshot"], hf["finetuned"], alpha), (1 - alpha) * heads[0] + alpha * heads[1], hf["images"]))


def test_a_vision_tower_fine_tune_keeps_the_zero_shot_head(hf):
    folder = hf["folder"]
    pair = load_pair(folder / "zeroshot", folder / "vision_ft" / "model.safetensors")
    head = their_head(hf["zeroshot"])
    assert_matches_theirs(pair, hf["images"], lambda alpha: their_probabilities(
        their_merge(hf["zeroshot"], hf["finetuned"], alpha), head, hf["images"]))
    with pytest.raises(WiseftError, match=r"without a text tower or a head: load it as the fine-tuned side"):
        load_classifier(folder / "vision_ft")


def test_pytorch_model_bin_loads_like_safetensors(hf):
    folder = hf["folder"]
    from_bin = load_pair(folder / "zeroshot", folder / "finetuned_bin")
    from_safetensors = load_pair(folder / "zeroshot", folder / "finetuned")
    for alpha in (0.0, 1.0):
        assert torch.equal(our_probabilities(from_bin, alpha, hf["images"]),
                           our_probabilities(from_safetensors, alpha, hf["images"]))


def test_a_gelu_clip_maps_to_open_clips_gelu_tower(tmp_path):
    model = hf_clip(3, act="gelu")
    model.save_pretrained(tmp_path / "gelu")
    loaded = load_classifier(tmp_path / "gelu", classnames=CLASSES)
    assert loaded.meta.quick_gelu is False
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ours = loaded.model(images).softmax(-1)
    assert (ours - their_probabilities(model, their_head(model), images)).abs().max().item() <= 1e-5


def test_image_classification_fine_tunes_are_refused_with_the_reason(tmp_path):
    config = hf_clip(0).config
    config.num_labels = len(CLASSES)
    transformers.CLIPForImageClassification(config).save_pretrained(tmp_path / "cls")
    with pytest.raises(WiseftError, match=r"CLIPForImageClassification: its classifier reads the mean of the patch"):
        load_classifier(tmp_path / "cls", classnames=CLASSES)


def test_a_weights_file_without_its_config_is_refused_naming_it(hf, tmp_path):
    (tmp_path / "alone.safetensors").write_bytes((hf["folder"] / "finetuned" / "model.safetensors").read_bytes())
    with pytest.raises(WiseftError, match=r"without its config.json"):
        load_classifier(tmp_path / "alone.safetensors", classnames=CLASSES)


def test_timm_clip_fine_tunes_are_refused_with_the_reason(tmp_path):
    timm = pytest.importorskip("timm")
    model = timm.models.vision_transformer.VisionTransformer(
        img_size=32, patch_size=8, embed_dim=64, depth=1, num_heads=2, pre_norm=True, num_classes=5)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "timm.safetensors"))
    torch.save(model.state_dict(), tmp_path / "timm.pth")
    for name in ("timm.safetensors", "timm.pth"):
        with pytest.raises(WiseftError, match=r"is a timm ViT .* without CLIP's projection and L2 normalisation"):
            load_classifier(tmp_path / name, classnames=CLASSES)


def test_wiseft_convert_writes_a_hugging_face_pair_with_full_metadata(hf, tmp_path):
    folder = hf["folder"]
    assert main(["convert", str(folder / "zeroshot"), str(folder / "vision_ft"), "--out-dir", str(tmp_path)]) == 0
    with safe_open(str(tmp_path / "zeroshot.safetensors"), framework="pt") as handle:
        meta = json.loads(handle.metadata()["wiseft"])
    assert meta["templates"] == "openai" and meta["classnames"] == CLASSES
    assert meta["recipe"]["source"].startswith("Hugging Face transformers (CLIPModel)")
    converted = load_pair(tmp_path / "zeroshot.safetensors", tmp_path / "finetuned.safetensors")
    direct = load_pair(folder / "zeroshot", folder / "vision_ft")
    assert_same_pair(converted, direct, hf["images"])


@pytest.mark.parametrize("key, value, message", [
    ("text_model.embeddings.position_embedding.weight", torch.zeros(5000, 32), r"text context length 5000 is outside"),
    ("vision_model.encoder.layers.1.self_attn.k_proj.weight", torch.zeros(64, 63),
     r"layer 1 of the vision tower: q/k/v_proj.weight missing or of different shapes"),
    ("vision_model.embeddings.position_embedding.weight", torch.zeros(18, 64), r"18 is not a square grid plus one"),
])
def test_a_doctored_hugging_face_file_ends_in_one_line_before_anything_is_built(hf, tmp_path, key, value, message):
    state = dict(hf_clip(0).state_dict())
    state[key] = value
    (tmp_path / "config.json").write_bytes((hf["folder"] / "zeroshot" / "config.json").read_bytes())
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "model.safetensors"))
    with pytest.raises(WiseftError, match=message):
        load_classifier(tmp_path, classnames=CLASSES)
