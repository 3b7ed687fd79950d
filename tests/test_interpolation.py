import copy

import pytest
import torch
from conftest import TINY_RESNET, make_classifier, perturbed

from wiseft_core.engine.interpolation import (
    WeightEndpoints,
    WeightInterpolator,
    ensemble_outputs,
    interpolate_state_dicts,
)
from wiseft_core.errors import WiseftError

ALPHAS = [0.0, 0.05, 0.25, 0.5, 0.73, 1.0, -0.5, 1.5]


def live(theta0, theta1, model):
    return WeightInterpolator(WeightEndpoints(theta0, theta1), copy.deepcopy(model))


def test_alpha_zero_reproduces_zero_shot_weights_exactly(tiny_vit, theta_pair):
    theta0, theta1 = theta_pair
    engine = live(theta0, theta1, tiny_vit[0])
    engine.set_alpha(0.7)
    engine.set_alpha(0.0)
    for key, value in engine.model.state_dict().items():
        assert torch.equal(value, theta0[key]), key
    for key, value in interpolate_state_dicts(theta0, theta1, 0.0).items():
        assert torch.equal(value, theta0[key]), key


def test_alpha_one_reproduces_finetuned_weights_exactly(tiny_vit, theta_pair):
    theta0, theta1 = theta_pair
    engine = live(theta0, theta1, tiny_vit[0])
    engine.set_alpha(1.0)
    for key, value in engine.model.state_dict().items():
        assert torch.equal(value, theta1[key]), key
    for key, value in interpolate_state_dicts(theta0, theta1, 1.0).items():
        assert torch.equal(value, theta1[key]), key


@pytest.mark.parametrize("alpha", ALPHAS)
def test_every_tensor_equals_the_formula(tiny_vit, theta_pair, alpha):
    theta0, theta1 = theta_pair
    engine = live(theta0, theta1, tiny_vit[0])
    engine.set_alpha(alpha)
    pure = interpolate_state_dicts(theta0, theta1, alpha)
    for key, value in engine.model.state_dict().items():
        expected = (1 - alpha) * theta0[key].double() + alpha * theta1[key].double()
        torch.testing.assert_close(value.double(), expected, atol=1e-6, rtol=0)
        torch.testing.assert_close(pure[key].double(), expected, atol=1e-6, rtol=0)


def test_set_alpha_rewrites_weights_in_place_without_allocating(tiny_vit, theta_pair):
    theta0, theta1 = theta_pair
    engine = live(theta0, theta1, tiny_vit[0])
    pointers = {name: p.data_ptr() for name, p in engine.model.named_parameters()}
    buffer_pointer = engine.out[torch.float32].data_ptr()
    before = engine.model(torch.zeros(1, 3, 32, 32))
    engine.set_alpha(0.9)
    after = engine.model(torch.zeros(1, 3, 32, 32))
    assert not torch.equal(before, after)
    assert {name: p.data_ptr() for name, p in engine.model.named_parameters()} == pointers
    assert engine.out[torch.float32].data_ptr() == buffer_pointer
    start = buffer_pointer
    end = start + engine.out[torch.float32].numel() * 4
    assert all(start <= ptr < end for ptr in pointers.values())  # every parameter is a view of one buffer


def test_uniform_alpha_is_one_lerp_per_buffer(theta_pair):
    endpoints = WeightEndpoints(*theta_pair)
    assert len(endpoints.runs(0.3)) == len(endpoints.flat0) == 1


def test_block_alpha_moves_only_the_matching_block(tiny_vit, theta_pair):
    theta0, theta1 = theta_pair
    engine = live(theta0, theta1, tiny_vit[0])
    engine.set_alpha(0.0, [("head", 1.0)])
    for key, value in engine.model.state_dict().items():
        assert torch.equal(value, theta1[key] if key.startswith("head.") else theta0[key]), key
    pure = interpolate_state_dicts(theta0, theta1, 0.0, [("head", 1.0)])
    assert all(torch.equal(pure[k], engine.model.state_dict()[k]) for k in pure)


def test_block_alpha_patterns_last_match_wins_and_accept_parameter_names(tiny_vit, theta_pair):
    theta0, theta1 = theta_pair
    engine = live(theta0, theta1, tiny_vit[0])
    engine.set_alpha(0.5, [("block*", 0.2), ("block1", 0.8), ("image_encoder.conv1.weight", 1.0)])
    state = engine.model.state_dict()

    def expect(key, a):
        torch.testing.assert_close(state[key], torch.lerp(theta0[key], theta1[key], a), atol=1e-6, rtol=0)

    expect("image_encoder.transformer.resblocks.0.mlp.c_fc.weight", 0.2)
    expect("image_encoder.transformer.resblocks.1.mlp.c_fc.weight", 0.8)
    expect("image_encoder.transformer.resblocks.2.mlp.c_fc.weight", 0.2)
    expect("image_encoder.conv1.weight", 1.0)
    expect("image_encoder.positional_embedding", 0.5)
    expect("head.weight", 0.5)


def test_block_alpha_pattern_matching_nothing_is_an_error(theta_pair):
    with pytest.raises(WiseftError, match="matches no parameter"):
        interpolate_state_dicts(*theta_pair, 0.5, [("blokc*", 0.1)])


def test_mismatched_shapes_name_the_key_and_both_shapes(theta_pair):
    theta0, theta1 = theta_pair
    theta1 = dict(theta1)
    theta1["head.weight"] = torch.zeros(7, 32)
    with pytest.raises(WiseftError, match=r"head\.weight: \(5, 32\) vs \(7, 32\)"):
        WeightEndpoints(theta0, theta1)
    with pytest.raises(WiseftError, match="different architectures"):
        interpolate_state_dicts(theta0, theta1, 0.5)


def test_missing_keys_are_named(theta_pair):
    theta0, theta1 = theta_pair
    theta1 = {k: v for k, v in theta1.items() if k != "head.bias"}
    with pytest.raises(WiseftError, match=r"head\.bias missing"):
        interpolate_state_dicts(theta0, theta1, 0.5)


def test_differing_integer_tensors_are_an_error_except_batchnorm_counters():
    theta0 = {"w": torch.ones(3), "index": torch.tensor([1, 2, 3]), "bn.num_batches_tracked": torch.tensor(0)}
    theta1 = {"w": torch.zeros(3), "index": torch.tensor([1, 2, 4]), "bn.num_batches_tracked": torch.tensor(400)}
    with pytest.raises(WiseftError, match="index: non-floating tensor differs"):
        interpolate_state_dicts(theta0, theta1, 0.5)
    theta1["index"] = theta0["index"].clone()
    assert int(interpolate_state_dicts(theta0, theta1, 0.4)["bn.num_batches_tracked"]) == 0
    assert int(interpolate_state_dicts(theta0, theta1, 0.5)["bn.num_batches_tracked"]) == 400


def test_batchnorm_running_statistics_interpolate_and_counters_take_the_nearer_endpoint():
    classifier, _, _ = make_classifier("wiseft-test-resnet", TINY_RESNET, seed=0)
    theta0 = copy.deepcopy(classifier.state_dict())
    theta1 = perturbed(theta0, seed=3)
    counters = [k for k in theta0 if k.endswith("num_batches_tracked")]
    assert counters
    for key in counters:
        theta1[key] = theta0[key] + 400
    engine = WeightInterpolator(WeightEndpoints(theta0, theta1), copy.deepcopy(classifier))
    engine.set_alpha(0.3)
    state = engine.model.state_dict()
    running = next(k for k in theta0 if k.endswith("running_mean"))
    torch.testing.assert_close(state[running], torch.lerp(theta0[running], theta1[running], 0.3), atol=1e-6, rtol=0)
    assert all(torch.equal(state[k], theta0[k]) for k in counters)
    engine.set_alpha(0.8)
    assert all(torch.equal(engine.model.state_dict()[k], theta1[k]) for k in counters)


def test_sessions_share_endpoints_but_never_each_others_weights(tiny_vit, theta_pair):
    endpoints = WeightEndpoints(*theta_pair)
    first = WeightInterpolator(endpoints, copy.deepcopy(tiny_vit[0]))
    second = WeightInterpolator(endpoints, copy.deepcopy(tiny_vit[0]))
    first.set_alpha(0.1)
    second.set_alpha(0.9)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    reference = copy.deepcopy(tiny_vit[0])
    reference.load_state_dict(interpolate_state_dicts(*theta_pair, 0.1))
    torch.testing.assert_close(first.model(x), reference(x), atol=1e-5, rtol=0)
    assert endpoints.flat0[torch.float32].data_ptr() != first.out[torch.float32].data_ptr()


def test_output_ensemble_mixes_logits_linearly():
    logits0 = torch.tensor([[1.0, 2.0, 3.0]])
    logits1 = torch.tensor([[3.0, 2.0, -1.0]])
    assert torch.equal(ensemble_outputs(logits0, logits1, 0.0), logits0)
    assert torch.equal(ensemble_outputs(logits0, logits1, 1.0), logits1)
    torch.testing.assert_close(ensemble_outputs(logits0, logits1, 0.25), torch.tensor([[1.5, 2.0, 2.0]]))


def test_linear_classifier_pair_weight_ensemble_equals_output_ensemble(tiny_vit):
    classifier = tiny_vit[0]
    theta0 = copy.deepcopy(classifier.state_dict())
    theta1 = dict(theta0)
    theta1["head.weight"] = theta0["head.weight"] + torch.randn_like(theta0["head.weight"])
    engine = WeightInterpolator(WeightEndpoints(theta0, theta1), copy.deepcopy(classifier))
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    engine.set_alpha(0.0)
    logits0 = engine.model(x)
    engine.set_alpha(1.0)
    logits1 = engine.model(x)
    engine.set_alpha(0.4)
    torch.testing.assert_close(engine.model(x), ensemble_outputs(logits0, logits1, 0.4), atol=1e-4, rtol=1e-5)


def test_extrapolated_batchnorm_variances_are_clamped_at_zero_so_outputs_stay_finite():
    classifier, _, _ = make_classifier("wiseft-test-resnet", TINY_RESNET, seed=0)
    theta0 = copy.deepcopy(classifier.state_dict())
    theta1 = dict(theta0)
    variances = [k for k in theta0 if k.endswith("running_var")]
    for key in variances:
        theta0[key] = torch.full_like(theta0[key], 0.2)
        theta1[key] = torch.full_like(theta1[key], 2.0)
    engine = WeightInterpolator(WeightEndpoints(theta0, theta1), copy.deepcopy(classifier))
    engine.set_alpha(-0.5)  # 0.2 - 0.5 * 1.8 < 0 without the clamp
    state = engine.model.state_dict()
    assert all(torch.equal(state[k], torch.zeros_like(state[k])) for k in variances)
    assert torch.isfinite(engine.model(torch.randn(2, 3, 32, 32))).all()
    pure = interpolate_state_dicts(theta0, theta1, -0.5)
    assert all(torch.equal(pure[k], state[k]) for k in variances)
    engine.set_alpha(0.5)
    torch.testing.assert_close(engine.model.state_dict()[variances[0]], torch.full_like(theta0[variances[0]], 1.1))


@pytest.mark.parametrize(("alpha", "block_alphas"), [(0.3, ()), (1.4, ()), (0.6, [("layer1", -0.5), ("head", 2.0)])])
def test_the_fused_engine_and_the_pure_function_give_identical_tensors_including_batchnorm(alpha, block_alphas):
    classifier, _, _ = make_classifier("wiseft-test-resnet", TINY_RESNET, seed=0)
    theta0 = copy.deepcopy(classifier.state_dict())
    theta1 = perturbed(theta0, seed=5)
    generator = torch.Generator().manual_seed(6)
    for key in theta0:
        if key.endswith("num_batches_tracked"):
            theta1[key] = theta0[key] + 7
        if key.endswith("running_var"):  # 1 at alpha 0, in [0, 4) at 1: extrapolating to 1.4 can go below 0
            theta1[key] = 4 * torch.rand(theta0[key].shape, generator=generator)
    engine = WeightInterpolator(WeightEndpoints(theta0, theta1), copy.deepcopy(classifier))
    engine.set_alpha(alpha, block_alphas)
    pure = interpolate_state_dicts(theta0, theta1, alpha, block_alphas)
    fused = engine.model.state_dict()
    assert [k for k in pure if not torch.equal(fused[k], pure[k])] == []
    variances = [k for k in pure if k.endswith("running_var")]
    assert all((pure[k] >= 0).all() for k in variances)
    if alpha > 1:
        assert any((pure[k] == 0).any() for k in variances)  # the clamp did act
