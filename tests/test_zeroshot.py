import tempfile

import open_clip
import pytest
import torch
import torch.nn.functional as F
from conftest import CLASSNAMES, TINY_VIT
from open_clip.zero_shot_metadata import SIMPLE_IMAGENET_TEMPLATES

from wiseft_core.errors import WiseftError
from wiseft_core.files.checkpoints import load_classifier
from wiseft_core.files.models import register_model_config
from wiseft_core.train.zeroshot import (
    build_zeroshot_checkpoint,
    load_classnames,
    load_templates,
    template_set_name,
    zero_shot_head,
)


def test_head_equals_open_clips_zero_shot_weights_times_logit_scale(tiny_vit):
    _, _, clip_model = tiny_vit
    templates = load_templates("simple")
    tokenizer = open_clip.get_tokenizer("wiseft-test-vit")
    head = zero_shot_head(clip_model, tokenizer, CLASSNAMES, templates)
    reference = open_clip.build_zero_shot_classifier(clip_model, tokenizer, CLASSNAMES, templates)
    torch.testing.assert_close(head.weight, reference.T * clip_model.logit_scale.exp().item())
    assert torch.equal(head.bias, torch.zeros(len(CLASSNAMES)))


def test_zero_shot_logits_equal_clips_scaled_cosine_similarities(tiny_vit):
    classifier, _, clip_model = tiny_vit
    images = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    tokenizer = open_clip.get_tokenizer("wiseft-test-vit")
    with torch.no_grad():
        image_features = F.normalize(clip_model.encode_image(images), dim=-1)
        text = open_clip.build_zero_shot_classifier(clip_model, tokenizer, CLASSNAMES, load_templates("simple"))
        expected = clip_model.logit_scale.exp() * image_features @ text
        torch.testing.assert_close(classifier(images), expected, atol=1e-4, rtol=1e-4)


def test_builtin_class_names_and_template_sets():
    assert len(load_classnames("imagenet")) == 1000
    assert load_classnames("imagenet")[0] == "tench"
    assert len(load_templates("openai")) == 80


def test_the_two_simple_template_sets_have_names_that_cannot_be_confused():
    assert [t("fox") for t in load_templates("openclip-simple")] == [t("fox") for t in SIMPLE_IMAGENET_TEMPLATES]
    assert len(load_templates("openclip-simple")) == 7
    assert [t("fox") for t in load_templates("reference-simple")] == ["a photo of a fox."]  # wise-ft's simple_template
    assert load_templates("simple") == load_templates("openclip-simple")  # what older checkpoints call it
    assert template_set_name("simple") == "openclip-simple" and template_set_name("classes.txt") is None


def test_a_built_zero_shot_checkpoint_is_saved_exactly_as_returned_with_its_metadata(tmp_path):

    out = tmp_path / "zs.safetensors"
    built = build_zeroshot_checkpoint("wiseft-test-vit", ["fox", "wolf"], "simple", "none", seed=3,
                                      model_config=TINY_VIT, out=out)
    loaded = load_classifier(out)
    assert loaded.meta == built.meta
    assert (built.meta.templates, built.meta.pretrained, built.meta.extra) == ("openclip-simple", None, {"seed": 3})
    for key, value in built.classifier.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], value)
    head = zero_shot_head(built.clip_model, open_clip.get_tokenizer("wiseft-test-vit"), ["fox", "wolf"],
                          load_templates("openclip-simple"))
    assert torch.equal(built.classifier.head.weight, head.weight)
    listed = build_zeroshot_checkpoint("wiseft-test-vit", ["fox", "wolf"], ["a {} here."], seed=3,
                                       clip=(built.clip_model, built.meta.model_config, built.meta.preprocessing))
    assert listed.meta.templates == ["a {} here."] and listed.clip_model is built.clip_model


def test_class_names_and_templates_from_files(tmp_path):
    (tmp_path / "classes.txt").write_text("# comment\nred fox\n\narctic wolf\n")
    (tmp_path / "templates.txt").write_text("a photo of a {}.\na drawing of a {}.\n")
    assert load_classnames(str(tmp_path / "classes.txt")) == ["red fox", "arctic wolf"]
    assert [t("fox") for t in load_templates(str(tmp_path / "templates.txt"))] == [
        "a photo of a fox.", "a drawing of a fox."]
    (tmp_path / "bad.txt").write_text("a photo\n")
    with pytest.raises(WiseftError, match="needs a '{}'"):
        load_templates(str(tmp_path / "bad.txt"))
    with pytest.raises(WiseftError, match="not found"):
        load_classnames(str(tmp_path / "nope.txt"))


def test_new_model_configs_reach_open_clip_through_its_public_hook_and_unsafe_names_are_not_registered():
    config = {"embed_dim": 8, "vision_cfg": {"image_size": 32, "layers": 1, "width": 16, "patch_size": 8},
              "text_cfg": {"context_length": 8, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1}}
    register_model_config("wiseft-hook-test", config)
    assert open_clip.get_model_config("wiseft-hook-test") == config
    register_model_config("wiseft-hook-test", {**config, "embed_dim": 4})  # a known name keeps its config
    assert open_clip.get_model_config("wiseft-hook-test")["embed_dim"] == 8
    register_model_config("../escape", config)
    assert open_clip.get_model_config("../escape") is None


def test_registering_a_model_config_leaves_no_folder_behind_and_earlier_configs_survive_later_ones(tmp_path,
                                                                                               monkeypatch):
    """A server killed with SIGKILL runs no finaliser: nothing may be left to clean up."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    config = {"embed_dim": 8, "vision_cfg": {"image_size": 32, "layers": 1, "width": 16, "patch_size": 8},
              "text_cfg": {"context_length": 8, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1}}
    register_model_config("wiseft-leak-test-a", config)
    register_model_config("wiseft-leak-test-b", {**config, "embed_dim": 4})  # open_clip rescans its paths
    assert open_clip.get_model_config("wiseft-leak-test-a")["embed_dim"] == 8
    assert open_clip.get_model_config("wiseft-leak-test-b")["embed_dim"] == 4
    assert list(tmp_path.iterdir()) == []
