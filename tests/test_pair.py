import pytest
import torch

from wiseft_core.devices import resolve_device
from wiseft_core.engine.interpolation import interpolate_state_dicts
from wiseft_core.engine.pair import load_pair
from wiseft_core.errors import WiseftError
from wiseft_core.files.checkpoints import checkpoint_bytes, load_classifier, save_classifier


def test_pair_endpoints_share_memory_with_the_engine(tiny_pair_files):
    zs, ft, _ = tiny_pair_files
    pair = load_pair(zs, ft)
    flat0 = pair.endpoints.flat0[torch.float32]
    start, end = flat0.data_ptr(), flat0.data_ptr() + flat0.numel() * 4
    assert all(start <= p.data_ptr() < end for p in pair.zeroshot.model.parameters())
    assert not pair.differs_only_in_head()


def test_new_interpolators_are_independent(tiny_pair_files):
    zs, ft, _ = tiny_pair_files
    pair = load_pair(zs, ft)
    a, b = pair.new_interpolator(), pair.new_interpolator()
    a.set_alpha(0.0)
    b.set_alpha(1.0)
    x = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(a.model(x), pair.zeroshot.model(x))
    torch.testing.assert_close(b.model(x), pair.finetuned.model(x))


def test_a_new_live_model_is_built_on_the_meta_device_and_owns_only_the_engines_buffer(tiny_pair_files, monkeypatch):
    """No throw-away randomly initialised copy per live model: the room's peak memory counts on it."""
    from wiseft_core.engine import pair as pair_module
    from wiseft_core.files import checkpoints

    zs, ft, _ = tiny_pair_files
    pair = load_pair(zs, ft)
    built_on = []
    real_build = checkpoints.build_classifier

    def spy(meta, device=None):
        built_on.append(device)
        return real_build(meta, device)

    monkeypatch.setattr(pair_module, "build_classifier", spy)
    live = pair.new_interpolator()
    assert built_on == ["meta"]
    flat = live.out[torch.float32]
    start, end = flat.data_ptr(), flat.data_ptr() + flat.numel() * 4
    tensors = [*live.model.parameters(), *live.model.buffers()]
    assert not any(t.is_meta for t in tensors)
    assert all(start <= p.data_ptr() < end for p in live.model.parameters())
    live.set_alpha(0.3)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    merged = interpolate_state_dicts(pair.zeroshot.model.state_dict(), pair.finetuned.model.state_dict(), 0.3)
    reference = real_build(pair.meta)
    reference.load_state_dict(merged)
    torch.testing.assert_close(live.model(x), reference.eval()(x), rtol=0, atol=1e-5)  # float sums in another order


def test_a_tensor_outside_the_state_dict_is_copied_from_the_endpoint_model():
    from torch import nn

    from wiseft_core.engine.interpolation import WeightEndpoints, WeightInterpolator

    def model(device=None):
        with torch.device(device or "cpu"):
            net = nn.Linear(3, 2)
        net.register_buffer("scale", torch.full((2,), 2.0, device=device), persistent=False)
        return net

    zeroshot, finetuned = model(), model()
    endpoints = WeightEndpoints(zeroshot.state_dict(), finetuned.state_dict())
    live = WeightInterpolator(endpoints, model("meta"), like=zeroshot)
    assert torch.equal(live.model.scale, torch.full((2,), 2.0))
    with pytest.raises(WiseftError, match="outside its state dict"):
        WeightInterpolator(endpoints, model("meta"))


def test_cuda_on_a_machine_without_cuda_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(WiseftError, match="no usable CUDA"):
        resolve_device("cuda")
    assert resolve_device("auto") == torch.device("cpu")


def test_a_merged_checkpoint_is_the_formula_with_a_recipe_that_names_both_endpoints(tiny_pair_files, tmp_path):
    zs, ft, _ = tiny_pair_files
    pair = load_pair(zs, ft)
    merged = pair.merged_checkpoint(0.3, [("head", 1.0)])
    theta0, theta1 = load_classifier(zs).model.state_dict(), load_classifier(ft).model.state_dict()
    expected = interpolate_state_dicts(theta0, theta1, 0.3, [("head", 1.0)])
    assert set(merged.state_dict) == set(expected)
    assert all(torch.equal(merged.state_dict[k], expected[k]) for k in expected)
    assert torch.equal(merged.state_dict["head.weight"], theta1["head.weight"])
    assert merged.meta.recipe == {
        "method": "wise-ft", "alpha": 0.3, "block_alphas": [["head", 1.0]],
        "zeroshot": zs.name, "finetuned": ft.name,
        "zeroshot_sha256": pair.zeroshot.sha256, "finetuned_sha256": pair.finetuned.sha256,
    }
    assert merged.meta.classnames == pair.classnames
    save_classifier(tmp_path / "m.safetensors", *merged)
    assert (tmp_path / "m.safetensors").read_bytes() == checkpoint_bytes(*merged)
