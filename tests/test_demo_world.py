"""The demo world: deterministic, balanced, labelled images in six styles, and a tokenizer open_clip accepts."""

import dataclasses
import hashlib

import numpy as np
import open_clip
import pytest
import torch
from PIL import Image

from wiseft_core.data import world
from wiseft_core.data.captions import caption
from wiseft_core.data.tokenizer import VOCAB, DemoTokenizer
from wiseft_core.demo.model_config import MODEL_NAME, register
from wiseft_core.demo.pretrain import pretraining_pair, world_fingerprint
from wiseft_core.errors import WiseftError


def _digest(image: Image.Image) -> str:
    return hashlib.sha256(image.tobytes()).hexdigest()


@pytest.mark.parametrize("name", world.DISTRIBUTIONS)
def test_same_distribution_split_and_index_give_the_same_bytes(name):
    first = world.demo_dataset(name, "test", 5)
    fresh = world.demo_dataset(name, "test", 5)
    for i in range(5):
        (a, la), (b, lb) = first[i], fresh[i]
        assert (la, _digest(a)) == (lb, _digest(b))
        assert a.mode == "RGB" and a.size == (32, 32)


def test_images_are_pure_functions_of_their_seed_not_of_access_order():
    forward = [_digest(world.generate("adversarial", "test", i)[0]) for i in range(4)]
    backward = [_digest(world.generate("adversarial", "test", i)[0]) for i in reversed(range(4))]
    assert forward == backward[::-1]


def test_splits_and_distributions_draw_different_images():
    digests = {_digest(world.generate(name, split, 0)[0])
               for name, split in [("photo", "train"), ("photo", "val"), ("photo", "test"), ("v2", "test")]}
    assert len(digests) == 4


def test_test_sets_are_balanced_and_at_least_2000_images():
    dataset = world.demo_dataset("sketch")
    assert len(dataset) >= 2000
    labels = [i % world.NUM_CLASSES for i in range(len(dataset))]
    assert np.bincount(labels).tolist() == [len(dataset) // world.NUM_CLASSES] * world.NUM_CLASSES
    assert dataset[21][1] == 1


def test_classnames_are_twenty_sized_shapes():
    assert len(world.CLASSNAMES) == 20 == len(set(world.CLASSNAMES))
    assert world.CLASSNAMES[:2] == ["small circle", "large circle"]


def _cue_rate(name: str, count: int = 400) -> float:
    hits = 0
    for i in range(count):
        rng = world.image_rng(name, "test", i)
        scene = world.sample_scene(rng, name, i % 20, cue=world.CUE_STRENGTH.get(name, 0.0))
        hits += scene.background == scene.label
    return hits / count


def test_spurious_background_cue_holds_on_the_reference_partly_on_v2_and_not_on_the_other_shifts():
    assert _cue_rate("photo") > 0.9
    assert 0.15 < _cue_rate("v2") < 0.35
    for name in ("sketch", "rendition", "objectnet", "adversarial"):
        assert _cue_rate(name) < 0.12  # only chance matches (1 in 20)


def test_pretraining_images_and_captions_are_frozen_as_the_shipped_clip_saw_them():
    # The digest of the pairs the shipped pretrained CLIP was trained on (before the shifts were redrawn):
    # if it changes, the shipped pretrained_clip.safetensors no longer matches the world.
    assert world_fingerprint() == "fe679a5dd8c7b773"


def test_changing_the_benchmark_look_changes_shift_images_but_not_pretraining_pairs(monkeypatch):
    before_pairs = [pretraining_pair(0, i)[0].tobytes() for i in range(60)]
    before_shift = _digest(world.generate("rendition", "test", 3)[0])
    before_photo = _digest(world.generate("photo", "test", 3)[0])
    monkeypatch.setattr(world, "LOOK", dataclasses.replace(world.LOOK, rendition_texture=5.0))
    assert [pretraining_pair(0, i)[0].tobytes() for i in range(60)] == before_pairs
    assert _digest(world.generate("rendition", "test", 3)[0]) != before_shift
    assert _digest(world.generate("photo", "test", 3)[0]) == before_photo


def test_unknown_distribution_split_or_train_on_a_shift_is_a_clear_error():
    with pytest.raises(WiseftError, match="demo:photo"):
        world.demo_dataset("imagenet")
    with pytest.raises(WiseftError, match="split"):
        world.demo_dataset("photo", "holdout")
    with pytest.raises(WiseftError, match="no train split"):
        world.demo_dataset("sketch", "train")


def test_dataset_index_out_of_range_raises_index_error():
    with pytest.raises(IndexError):
        world.demo_dataset("photo", "val", 3)[3]


def test_tokenizer_puts_eot_last_with_the_largest_id_for_open_clip_pooling():
    tokens = DemoTokenizer()(["a photo of a small circle.", "a sketch of a large star"])
    assert tokens.shape == (2, 16) and tokens.dtype == torch.long
    eot = len(VOCAB) - 1
    assert tokens[0].argmax().item() == 7 and tokens[0, 7] == eot
    assert tokens[0, 0] == VOCAB.index("<sot>") and tokens[0, 8:].eq(0).all()


def test_every_caption_word_is_in_the_vocabulary():
    tok = DemoTokenizer()
    rng = np.random.default_rng(0)
    for i in range(200):
        scene = world.sample_scene(rng, world.DISTRIBUTIONS[i % 6], i % 20)
        assert VOCAB.index("<unk>") not in tok.encode(caption(rng, scene))


def test_demo_clip_is_registered_with_open_clip_and_builds_a_zero_shot_head():
    register()
    model = open_clip.create_model(MODEL_NAME)
    weights = open_clip.build_zero_shot_classifier(model, DemoTokenizer(), world.CLASSNAMES, world.TEMPLATES)
    assert weights.shape == (128, 20)
    assert torch.allclose(weights.norm(dim=0), torch.ones(20), atol=1e-5)
