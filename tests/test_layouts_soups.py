"""Model soups files (Wortsman et al., ICML 2022) load as a WiSE-FT pair, exactly, with nothing run.

The files are built the way their code builds them: OpenAI's real ``clip.model.CLIP`` (the
``openai-clip`` package) wrapped in their ``ModelWrapper`` (text transformer deleted, head on
L2-normalised features) and ``torch.save``d as a state dict; the zero-shot head is 100 x normalised
text embeddings. Their forward of their interpolation is the reference.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
import time

import pytest
import torch
from layout_checks import assert_matches_theirs, assert_same_pair
from safetensors import safe_open
from torch import nn

from wiseft_core.cli.dispatch import main
from wiseft_core.engine.pair import load_pair
from wiseft_core.errors import WiseftError
from wiseft_core.files.reader import load_classifier
from wiseft_core.serve.app_launch import LaunchOptions, model_files

CLASSES = ["cat", "dog", "bird", "fish", "horse", "lamp", "tree"]
TINY = {"embed_dim": 32, "image_resolution": 32, "vision_layers": 2, "vision_width": 128, "vision_patch_size": 8,
        "context_length": 16, "vocab_size": 100, "transformer_width": 32, "transformer_heads": 2,
        "transformer_layers": 1}


def openai_clip_module():
    """OpenAI's ``clip/model.py`` from the installed package (its ``clip/__init__`` needs pkg_resources)."""
    spec = importlib.util.find_spec("clip")
    if spec is None:
        pytest.skip("openai-clip is not installed (requirements-dev.txt)")
    if "openai_clip_model" not in sys.modules:
        path = f"{spec.submodule_search_locations[0]}/model.py"
        module_spec = importlib.util.spec_from_file_location("openai_clip_model", path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        sys.modules["openai_clip_model"] = module
    return sys.modules["openai_clip_model"]


class ModelWrapper(nn.Module):
    """model-soups utils.ModelWrapper: CLIP minus its text transformer, a Linear head on normalised features."""

    def __init__(self, model, feature_dim, num_classes, normalize=True, initial_weights=None):
        super().__init__()
        self.model = model
        self.classification_head = nn.Linear(feature_dim, num_classes)
        self.normalize = normalize
        if initial_weights is None:
            initial_weights = torch.zeros_like(self.classification_head.weight)
            nn.init.kaiming_uniform_(initial_weights, a=math.sqrt(5))
        self.classification_head.weight = nn.Parameter(initial_weights.clone())
        self.classification_head.bias = nn.Parameter(torch.zeros_like(self.classification_head.bias))
        if hasattr(self.model, "transformer"):
            delattr(self.model, "transformer")

    def forward(self, images):
        features = self.model.encode_image(images)
        if self.normalize:
            features = features / features.norm(dim=-1, keepdim=True)
        return self.classification_head(features)


def soups_zeroshot(classes: int, seed: int = 0) -> ModelWrapper:
    """Their zeroshot.py: normalised text embeddings x logit_scale.exp() (100 for trained CLIP), zero bias."""
    torch.manual_seed(seed)
    clip_model = openai_clip_module().CLIP(**TINY).float().eval()
    with torch.no_grad():
        clip_model.logit_scale.fill_(math.log(100))
        tokens = torch.randint(1, TINY["vocab_size"] - 1, (classes, TINY["context_length"]))
        tokens[:, -1] = TINY["vocab_size"] - 1  # the end token: their argmax pooling finds it
        text = clip_model.encode_text(tokens)
        weights = text / text.norm(dim=-1, keepdim=True) * clip_model.logit_scale.exp()
    return ModelWrapper(clip_model, TINY["embed_dim"], classes, initial_weights=weights).eval()


def soups_finetuned(zeroshot: ModelWrapper, seed: int) -> ModelWrapper:
    """A stand-in for their fine-tuning: every tensor moved by seeded noise, the bias too."""
    import copy

    model = copy.deepcopy(zeroshot)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.add_(0.02 * torch.randn(tensor.shape, generator=generator))
    return model.eval()


def their_merge(zeroshot: ModelWrapper, finetuned: ModelWrapper, alpha: float) -> ModelWrapper:
    """Their WiSE-FT: theta = (1 - alpha) theta_0 + alpha theta_1 over the whole state dict, then load it."""
    import copy

    theta_0, theta_1 = zeroshot.state_dict(), finetuned.state_dict()
    model = copy.deepcopy(finetuned)
    model.load_state_dict({k: (1 - alpha) * theta_0[k] + alpha * theta_1[k] for k in theta_0})
    return model.eval()


@pytest.fixture(scope="module")
def soups(tmp_path_factory):
    folder = tmp_path_factory.mktemp("soups")
    zeroshot = soups_zeroshot(len(CLASSES))
    finetuned = [soups_finetuned(zeroshot, seed) for seed in (1, 2, 3)]
    torch.save(zeroshot.state_dict(), folder / "zero-shot.pt")
    for index, model in enumerate(finetuned):
        torch.save(model.state_dict(), folder / f"model_{index}.pt")
    (folder / "classnames.txt").write_text("\n".join(CLASSES) + "\n")
    images = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(7))
    return {"folder": folder, "zeroshot": zeroshot, "finetuned": finetuned, "images": images}


@torch.no_grad()
def test_the_file_is_their_layout_with_the_text_leftovers():
    keys = set(soups_zeroshot(3).state_dict())
    assert {"model.token_embedding.weight", "model.positional_embedding", "model.ln_final.weight",
            "model.text_projection", "model.logit_scale", "classification_head.bias"} <= keys
    assert "model.visual.conv1.weight" in keys and not any(k.startswith("model.transformer.") for k in keys)


def test_a_soups_pair_loads_and_equals_their_forward_of_their_merge(soups):
    folder = soups["folder"]
    pair = load_pair(folder / "zero-shot.pt", folder / "model_1.pt")
    assert_matches_theirs(pair, soups["images"], lambda alpha: their_merge(
        soups["zeroshot"], soups["finetuned"][1], alpha)(soups["images"]).softmax(-1))
    assert pair.classnames == CLASSES


def test_the_zero_shot_side_is_recognised_and_openai_quickgelu_is_read_from_the_layout(soups):
    zeroshot = load_classifier(soups["folder"] / "zero-shot.pt")
    assert zeroshot.meta.quick_gelu is True and zeroshot.meta.templates == "openai"
    assert zeroshot.meta.extra["imported_from"] == "model soups" and "zero-shot" in zeroshot.meta.extra["head"]
    finetuned = load_classifier(soups["folder"] / "model_0.pt")  # a fine-tuned file also loads on its own
    assert finetuned.meta.templates == [] and "head" not in finetuned.meta.extra


def test_a_soups_file_with_a_gelu_activation_asked_for_is_refused(soups):
    with pytest.raises(WiseftError, match=r"says its ViT uses QuickGELU but --activation gelu"):
        load_classifier(soups["folder"] / "model_0.pt", activation="gelu")


def test_a_1000_class_head_gets_imagenet_names_and_another_size_asks_for_a_file(tmp_path):
    torch.save(soups_zeroshot(1000, seed=4).state_dict(), tmp_path / "zero-shot.pt")
    names = load_classifier(tmp_path / "zero-shot.pt").meta.classnames
    assert len(names) == 1000 and names[0] == "tench"
    torch.save(soups_zeroshot(3, seed=4).state_dict(), tmp_path / "three.pt")
    with pytest.raises(WiseftError, match=r"3-class head .* --classnames FILE"):
        load_classifier(tmp_path / "three.pt")
    assert load_classifier(tmp_path / "three.pt", classnames=["a", "b", "c"]).meta.classnames == ["a", "b", "c"]


def test_wiseft_predict_takes_a_soups_pair(soups, tmp_path, capsys):
    from PIL import Image

    Image.new("RGB", (40, 32), (10, 200, 30)).save(tmp_path / "green.png")
    folder = soups["folder"]
    code = main(["predict", "--zeroshot", str(folder / "zero-shot.pt"), "--finetuned", str(folder / "model_2.pt"),
                 "--json", str(tmp_path / "green.png")])
    assert code == 0
    top = json.loads(capsys.readouterr().out)["predictions"][0]["top_k"]
    assert {entry["class"] for entry in top} <= set(CLASSES) and len(top) == 5


def test_wiseft_convert_writes_soups_files_with_full_metadata(soups, tmp_path):
    folder = soups["folder"]
    assert main(["convert", str(folder / "zero-shot.pt"), str(folder / "model_0.pt"), "--out-dir",
                 str(tmp_path)]) == 0
    with safe_open(str(tmp_path / "zeroshot.safetensors"), framework="pt") as handle:
        meta = json.loads(handle.metadata()["wiseft"])
    assert meta["model_config"]["quick_gelu"] is True and meta["classnames"] == CLASSES
    assert meta["recipe"]["source"] == "model soups" and meta["recipe"]["file"] == "zero-shot.pt"
    converted = load_pair(tmp_path / "zeroshot.safetensors", tmp_path / "finetuned.safetensors")
    direct = load_pair(folder / "zero-shot.pt", folder / "model_0.pt")
    assert_same_pair(converted, direct, soups["images"])


def test_a_models_folder_of_soups_files_lists_every_one(soups):
    listed = model_files(LaunchOptions(models_dirs=(str(soups["folder"]),)))
    assert {"zero-shot.pt", "model_0.pt", "model_1.pt", "model_2.pt"} <= set(listed)


def settle(at, timeout: float = 60) -> None:
    """Let the background grid filler finish (its caption appears) before the test process may exit."""
    deadline = time.time() + timeout
    while not any("weight space" in c.value for c in at.caption) and time.time() < deadline:
        time.sleep(0.2)
        at.run()


@pytest.mark.slow
@pytest.mark.usefixtures("app_argv")
def test_the_app_plays_a_soups_pair_picked_from_the_operators_models_folder(soups, monkeypatch):
    from app_pair import launch_with, open_app, plain

    launch_with(monkeypatch, "--models-dir", str(soups["folder"]))
    at = open_app("playground")
    at.radio(key="pair_source").set_value("files").run()
    assert {"zero-shot.pt", "model_0.pt", "model_1.pt", "model_2.pt"} <= set(at.selectbox(key="files_zs_file").options)
    at.selectbox(key="files_zs_file").set_value("zero-shot.pt")
    at.selectbox(key="files_ft_file").set_value("model_1.pt").run()
    assert not at.exception and not [plain(e.value) for e in at.sidebar.error]
    pair = at.session_state["_pair_context"].pair
    assert pair.classnames == CLASSES and pair.meta.extra["imported_from"] == "model soups"  # names: the sidecar
    settle(at)


@pytest.mark.slow
@pytest.mark.usefixtures("app_argv")
def test_a_viewer_can_upload_a_soups_pair(tmp_path):
    """An ImageNet-size head needs no class-name file: uploads of both sides load and play."""
    from app_pair import open_app, plain

    zeroshot = soups_zeroshot(1000, seed=5)
    torch.save(zeroshot.state_dict(), tmp_path / "zero-shot.pt")
    torch.save(soups_finetuned(zeroshot, seed=6).state_dict(), tmp_path / "model_9.pt")
    at = open_app("playground")
    at.radio(key="pair_source").set_value("files").run()
    for key, name in (("files_zs_upload", "zero-shot.pt"), ("files_ft_upload", "model_9.pt")):
        at.file_uploader(key=key).set_value((name, (tmp_path / name).read_bytes(), "application/octet-stream"))
    at.run()
    assert not at.exception and not [plain(e.value) for e in at.sidebar.error]
    pair = at.session_state["_pair_context"].pair
    assert len(pair.classnames) == 1000 and pair.classnames[0] == "tench"
    settle(at)
