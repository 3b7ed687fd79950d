import open_clip
import pytest
import torch

from tests.conftest import TINY_VIT
from wiseft_core.errors import WiseftError
from wiseft_core.files import models
from wiseft_core.files.models import Preprocessing, build_vision_tower, create_clip


def test_random_weights_are_reproducible_from_the_seed():
    a, _, _ = create_clip("wiseft-test-vit", "none", seed=3, model_config=TINY_VIT)
    b, _, _ = create_clip("wiseft-test-vit", "none", seed=3, model_config=TINY_VIT)
    c, _, _ = create_clip("wiseft-test-vit", "none", seed=4, model_config=TINY_VIT)
    assert torch.equal(a.visual.conv1.weight, b.visual.conv1.weight)
    assert not torch.equal(a.visual.conv1.weight, c.visual.conv1.weight)


@pytest.mark.slow
def test_vit_b_32_image_tower_matches_open_clips_architecture():
    clip_model, config, preprocessing = create_clip("ViT-B-32", "none", seed=0)
    tower = build_vision_tower(config)
    reference = clip_model.visual.state_dict()
    assert {k: v.shape for k, v in tower.state_dict().items()} == {k: v.shape for k, v in reference.items()}
    assert sum(p.numel() for p in tower.parameters()) == 87_849_216
    assert preprocessing.image_size == 224
    assert preprocessing.mean == pytest.approx(open_clip.OPENAI_DATASET_MEAN)


def test_unknown_models_and_tags_get_actionable_messages(monkeypatch):
    with pytest.raises(WiseftError, match="unknown open_clip model 'ViT-Q-99'"):
        create_clip("ViT-Q-99", "none")
    with pytest.raises(WiseftError, match="tags for ViT-B-32: openai"):
        create_clip("ViT-B-32", "no-such-tag")
    with pytest.raises(WiseftError, match="weights file not found"):
        create_clip("ViT-B-32", "/nowhere/weights.bin")


def test_offline_pretrained_download_fails_fast_with_instructions(monkeypatch):
    monkeypatch.setattr(models, "hub_reachable", lambda *a, **k: False)

    def no_network(*args, **kwargs):
        raise RuntimeError("Failed to download")

    monkeypatch.setattr(open_clip, "create_model", no_network)
    with pytest.raises(WiseftError, match="offline.*--pretrained /path/to/weights"):
        create_clip("ViT-B-32", "openai")


def test_preprocessing_round_trips_and_transforms_images():
    from PIL import Image

    prep = Preprocessing(32, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    assert Preprocessing.from_dict(prep.to_dict()) == prep
    tensor = prep.eval_transform()(Image.new("RGB", (64, 40), (255, 0, 0)))
    assert tensor.shape == (3, 32, 32)
    assert tensor[0].mean().item() == pytest.approx(2.0, abs=1e-3)
    with pytest.raises(WiseftError, match="preprocessing metadata"):
        Preprocessing.from_dict({"image_size": 32})


@pytest.mark.parametrize("kwargs, message", [
    ({"image_size": 0}, r"image_size = 0 is outside \[8, 1024\]"),
    ({"image_size": 4096}, r"image_size = 4096 is outside"),
    ({"std": (0.0, 0.0, 0.0)}, r"std = 0.0 is outside"),
    ({"mean": (0.5, 0.5)}, r"mean must hold 3 numbers"),
    ({"interpolation": "bogus"}, r"interpolation 'bogus' is not one of"),
    ({"resize_mode": "stretch"}, r"resize_mode 'stretch'"),
])
def test_preprocessing_refuses_values_no_model_uses(kwargs, message):
    values = {"image_size": 32, "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25), **kwargs}
    with pytest.raises(WiseftError, match=message):
        Preprocessing(**values)


@pytest.mark.parametrize("edit, message", [
    (lambda c: c["vision_cfg"].update(layers=1000), r"vision_cfg layers = 1000 is outside \[1, 128\]"),
    (lambda c: c["vision_cfg"].update(width=100000), r"width = 100000 is outside"),
    (lambda c: c["vision_cfg"].update(patch_size=64), r"patch_size = 64 is outside \[1, 32\]"),
    (lambda c: c.update(vision_cfg="ViT-B-32"), r"'vision_cfg' must be an object, got str"),
    (lambda c: c["vision_cfg"].update(timm_model_name="vit_base", timm_model_pretrained=True), r"only open_clip"),
    (lambda c: c.update(embed_dim=None), r"embed_dim must be an integer"),
])
def test_model_configs_are_bounded_before_anything_is_built(edit, message):
    import copy

    config = copy.deepcopy(TINY_VIT)
    edit(config)
    with pytest.raises(WiseftError, match=message):
        build_vision_tower(config)
