import os
import sys
import types
from dataclasses import replace

import pytest
import torch
from torch import nn

from tests.conftest import TINY_RESNET, make_classifier
from wiseft_core.errors import WiseftError
from wiseft_core.files import checkpoints
from wiseft_core.files.checkpoints import load_classifier, read_meta, save_classifier


def test_round_trip_keeps_every_tensor_and_the_metadata(tmp_path, tiny_vit):
    classifier, meta, _ = tiny_vit
    meta = replace(meta, recipe={"method": "wise-ft", "alpha": 0.5})
    path = tmp_path / "c.safetensors"
    save_classifier(path, classifier, meta)
    loaded = load_classifier(path)
    assert loaded.meta == meta
    assert read_meta(path).preprocessing.image_size == 32
    for key, value in classifier.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], value), key
    assert not loaded.model.training
    assert len(loaded.sha256) == 64


def test_fp16_storage_halves_the_file_and_loads_back_as_fp32(tmp_path, tiny_vit):
    classifier, meta, _ = tiny_vit
    save_classifier(tmp_path / "32.safetensors", classifier, meta)
    save_classifier(tmp_path / "16.safetensors", classifier, meta, dtype=torch.float16)
    assert os.path.getsize(tmp_path / "16.safetensors") < 0.6 * os.path.getsize(tmp_path / "32.safetensors")
    loaded = load_classifier(tmp_path / "16.safetensors")
    weight = loaded.model.head.weight
    assert weight.dtype == torch.float32
    torch.testing.assert_close(weight, classifier.head.weight.half().float())


def test_a_checkpoint_that_does_not_match_its_metadata_names_the_keys(tmp_path, tiny_vit):
    classifier, meta, _ = tiny_vit
    state = classifier.state_dict()
    state["head.weight"] = torch.zeros(9, 32)
    save_classifier(tmp_path / "bad.safetensors", state, meta)
    with pytest.raises(WiseftError, match=r"head\.weight: \(5, 32\) vs \(9, 32\)"):
        load_classifier(tmp_path / "bad.safetensors")


def test_non_safetensors_garbage_and_truncation_give_clear_errors(tmp_path, tiny_vit):
    classifier, meta, _ = tiny_vit
    (tmp_path / "notes.safetensors").write_text("hello, I am not a checkpoint")
    with pytest.raises(WiseftError, match="not a checkpoint: neither a safetensors file"):
        load_classifier(tmp_path / "notes.safetensors")
    (tmp_path / "empty.safetensors").write_bytes(b"")
    with pytest.raises(WiseftError, match="empty file"):
        load_classifier(tmp_path / "empty.safetensors")
    save_classifier(tmp_path / "ok.safetensors", classifier, meta)
    data = (tmp_path / "ok.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(WiseftError, match="cut.safetensors"):
        load_classifier(tmp_path / "cut.safetensors")
    with pytest.raises(WiseftError, match="not found"):
        load_classifier(tmp_path / "missing.safetensors")


def test_metadata_is_validated(tmp_path, tiny_vit):
    classifier, meta, _ = tiny_vit
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(1)}, tmp_path / "plain.safetensors")
    with pytest.raises(WiseftError, match="without wiseft metadata"):
        read_meta(tmp_path / "plain.safetensors")
    save_file({"x": torch.zeros(1)}, tmp_path / "old.safetensors", metadata={"wiseft": '{"format_version": 1}'})
    with pytest.raises(WiseftError, match="lacks model_name, model_config, classnames, preprocessing"):
        read_meta(tmp_path / "old.safetensors")
    save_file({"x": torch.zeros(1)}, tmp_path / "future.safetensors", metadata={"wiseft": meta.to_json().replace(
        '"format_version": 1', '"format_version": 99')})
    with pytest.raises(WiseftError, match="newer than this wiseft"):
        read_meta(tmp_path / "future.safetensors")


def test_failed_write_leaves_the_previous_file_intact(tmp_path, tiny_vit, monkeypatch):
    classifier, meta, _ = tiny_vit
    path = tmp_path / "c.safetensors"
    save_classifier(path, classifier, meta)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(checkpoints.os, "replace", crash)
    with pytest.raises(WiseftError, match="cannot write .*c.safetensors: disk full"):
        save_classifier(path, classifier, replace(meta, recipe={"alpha": 1}))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.safetensors"]


def test_plain_state_dict_loads_with_weights_only_and_borrows_metadata(tmp_path, tiny_vit):
    classifier, meta, _ = tiny_vit
    open_clip_layout = {("head." + k[5:] if k.startswith("head.") else "module.visual." + k[len("image_encoder."):]): v
                        for k, v in classifier.state_dict().items()}
    torch.save(open_clip_layout, tmp_path / "sd.pt")
    with pytest.raises(WiseftError, match="plain state dict without metadata"):
        load_classifier(tmp_path / "sd.pt")
    loaded = load_classifier(tmp_path / "sd.pt", like=meta)
    assert torch.equal(loaded.model.head.weight, classifier.head.weight)


class _ForeignClassifier(nn.Module):
    def __init__(self, classifier):
        super().__init__()
        self.image_encoder = classifier.image_encoder
        self.head = classifier.head


def test_pickled_models_of_unknown_code_need_the_explicit_opt_in(tmp_path, tiny_vit):
    classifier, meta, _ = tiny_vit
    # A class from a module that will not exist when loading (someone's own training code).
    module = types.ModuleType("foreign_training_code")
    cls = type("Classifier", (_ForeignClassifier,), {"__module__": "foreign_training_code"})
    module.Classifier = cls
    sys.modules["foreign_training_code"] = module
    try:
        torch.save(cls(classifier), tmp_path / "model.pt")
    finally:
        del sys.modules["foreign_training_code"]
    with pytest.raises(WiseftError, match=r"foreign_training_code\.Classifier.*--trust-pickle"):
        load_classifier(tmp_path / "model.pt", like=meta)
    with pytest.warns(UserWarning, match="unpickling"):
        loaded = load_classifier(tmp_path / "model.pt", like=meta, trust_pickle=True)
    assert torch.equal(loaded.model.head.weight, classifier.head.weight)


def test_resnet_towers_with_batchnorm_round_trip(tmp_path):
    classifier, meta, _ = make_classifier("wiseft-test-resnet", TINY_RESNET, seed=0)
    save_classifier(tmp_path / "r.safetensors", classifier, meta)
    loaded = load_classifier(tmp_path / "r.safetensors")
    assert any(k.endswith("num_batches_tracked") for k in loaded.model.state_dict())
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(loaded.model(x), classifier.eval()(x))


def test_saved_files_get_ordinary_permissions(tmp_path, tiny_vit):
    classifier, meta, _ = tiny_vit
    old = os.umask(0o022)
    try:
        save_classifier(tmp_path / "p.safetensors", classifier, meta)
    finally:
        os.umask(old)
    assert (tmp_path / "p.safetensors").stat().st_mode & 0o777 == 0o644


def test_a_quickgelu_side_and_a_gelu_side_are_never_paired(tmp_path, tiny_vit):
    classifier, meta, _ = tiny_vit
    quick = replace(meta, model_config={**meta.model_config, "quick_gelu": True})
    save_classifier(tmp_path / "gelu.safetensors", classifier, meta)
    save_classifier(tmp_path / "quick.safetensors", classifier, quick)
    with pytest.raises(WiseftError, match=r"uses QuickGELU \(OpenAI CLIP\) but the other checkpoint uses GELU"):
        load_classifier(tmp_path / "quick.safetensors", like=meta)
    assert load_classifier(tmp_path / "quick.safetensors", like=quick).meta.quick_gelu


def test_shapes_are_checked_from_the_header_before_tensors_are_read(tmp_path, tiny_vit, monkeypatch):
    classifier, meta, _ = tiny_vit
    state = classifier.state_dict()
    state["head.weight"] = torch.zeros(9, 32)
    save_classifier(tmp_path / "bad.safetensors", state, meta)
    monkeypatch.setattr(checkpoints, "_read_safetensors", lambda *a: pytest.fail("tensors were read"))
    with pytest.raises(WiseftError, match=r"head\.weight: \(5, 32\) vs \(9, 32\)"):
        load_classifier(tmp_path / "bad.safetensors")


