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


# ---------------------------------------------------------------------------- N endpoints (soups)
from wiseft_core.engine.interpolation import mix_state_dicts  # noqa: E402

N_WAY_WEIGHTS = [(0.1, 0.2, 0.3, 0.4), (0.25, 0.25, 0.25, 0.25), (0.0, 0.6, 0.0, 0.4), (1.5, -0.5, 0.25, -0.25),
                 (0.0, 0.0, 0.3, 0.7)]


@pytest.fixture
def four_thetas(theta_pair):
    theta0, theta1 = theta_pair
    return [theta0, theta1, perturbed(theta0, seed=2), perturbed(theta0, seed=3)]


@pytest.mark.parametrize("weights", N_WAY_WEIGHTS)
def test_n_way_weights_equal_the_formula_in_the_engine_and_the_pure_function(tiny_vit, four_thetas, weights):
    engine = WeightInterpolator(WeightEndpoints(four_thetas), copy.deepcopy(tiny_vit[0]))
    engine.set_weights(weights)
    pure = mix_state_dicts(four_thetas, weights)
    for key, value in engine.model.state_dict().items():
        expected = sum(w * theta[key].double() for w, theta in zip(weights, four_thetas))
        torch.testing.assert_close(value.double(), expected, atol=1e-6, rtol=0)
        torch.testing.assert_close(pure[key].double(), expected, atol=1e-6, rtol=0)


def test_every_vertex_gives_its_endpoint_bit_for_bit_after_any_other_weights(tiny_vit, four_thetas):
    engine = WeightInterpolator(WeightEndpoints(four_thetas), copy.deepcopy(tiny_vit[0]))
    for i in range(4):
        engine.set_weights((0.1, 0.2, 0.3, 0.4))
        engine.set_weights(tuple(1.0 if j == i else 0.0 for j in range(4)))
        for key, value in engine.model.state_dict().items():
            assert torch.equal(value, four_thetas[i][key]), (i, key)


def test_set_weights_rewrites_the_same_memory_whichever_kernel_runs(tiny_vit, four_thetas):
    engine = WeightInterpolator(WeightEndpoints(four_thetas), copy.deepcopy(tiny_vit[0]))
    pointers = {name: p.data_ptr() for name, p in engine.model.named_parameters()}
    buffer = engine.out[torch.float32].data_ptr()
    stacked = engine.endpoints.stack[torch.float32].data_ptr()
    x = torch.zeros(1, 3, 32, 32)
    seen = []
    for weights in [(0.1, 0.2, 0.3, 0.4), (0.0, 0.3, 0.7, 0.0), (0.0, 0.0, 0.0, 1.0), (0.5, -0.5, 0.5, 0.5)]:
        engine.set_weights(weights)  # GEMV, lerp, copy, extrapolating GEMV
        seen.append(engine.model(x))
        assert {name: p.data_ptr() for name, p in engine.model.named_parameters()} == pointers
        assert engine.out[torch.float32].data_ptr() == buffer
        assert engine.endpoints.stack[torch.float32].data_ptr() == stacked
    assert not torch.equal(seen[0], seen[1])


def test_the_pair_is_the_two_endpoint_case_of_set_weights(tiny_vit, theta_pair):
    endpoints = WeightEndpoints(list(theta_pair))
    assert endpoints.count == 2 and endpoints.stack[torch.float32].shape[0] == 2
    by_alpha = WeightInterpolator(endpoints, copy.deepcopy(tiny_vit[0]))
    by_weights = WeightInterpolator(WeightEndpoints(*theta_pair), copy.deepcopy(tiny_vit[0]))
    for alpha in ALPHAS:
        by_alpha.set_alpha(alpha)
        by_weights.set_weights((1 - alpha, alpha))
        a, b = by_alpha.model.state_dict(), by_weights.model.state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), alpha
    assert by_alpha.is_at(ALPHAS[-1]) and not by_weights.is_at(ALPHAS[-1])


def test_per_block_weights_override_the_global_weights(tiny_vit, four_thetas):
    engine = WeightInterpolator(WeightEndpoints(four_thetas), copy.deepcopy(tiny_vit[0]))
    engine.set_weights((0.25, 0.25, 0.25, 0.25), [("head", (0.0, 0.0, 1.0, 0.0))])
    state = engine.model.state_dict()
    assert torch.equal(state["head.weight"], four_thetas[2]["head.weight"])
    expected = sum(t["image_encoder.conv1.weight"] for t in four_thetas) / 4
    torch.testing.assert_close(state["image_encoder.conv1.weight"], expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize(("weights", "message"), [((0.5, 0.5, 0.5, 0.5), "must sum to 1"),
                                                  ((0.5, 0.5), "2 weight\\(s\\) for 4 endpoints"),
                                                  ((float("nan"), 1.0, 0.0, 0.0), "finite")])
def test_weights_that_are_not_affine_or_miscounted_are_one_line_errors(tiny_vit, four_thetas, weights, message):
    engine = WeightInterpolator(WeightEndpoints(four_thetas), copy.deepcopy(tiny_vit[0]))
    with pytest.raises(WiseftError, match=message):
        engine.set_weights(weights)
    with pytest.raises(WiseftError, match="alpha needs a pair"):
        engine.set_alpha(0.5)


def test_n_way_batchnorm_counters_follow_the_heaviest_weight_and_variances_clamp_when_extrapolating():
    classifier, _, _ = make_classifier("wiseft-test-resnet", TINY_RESNET, seed=0)
    base = copy.deepcopy(classifier.state_dict())
    thetas = [base, perturbed(base, seed=4), perturbed(base, seed=5)]
    counters = [k for k in base if k.endswith("num_batches_tracked")]
    variances = [k for k in base if k.endswith("running_var")]
    for i, theta in enumerate(thetas):
        for key in counters:
            theta[key] = base[key] + 100 * i
        for key in variances:
            theta[key] = torch.full_like(base[key], 0.5 + i)
    engine = WeightInterpolator(WeightEndpoints(thetas), copy.deepcopy(classifier))
    for weights in [(0.2, 0.5, 0.3), (0.5, 0.0, 0.5), (2.0, -2.0, 1.0), (0.0, 0.0, 1.0)]:
        engine.set_weights(weights)
        state = engine.model.state_dict()
        pure = mix_state_dicts(thetas, weights)
        heaviest = max(range(3), key=lambda i: (weights[i], i))
        assert all(torch.equal(state[k], thetas[heaviest][k]) for k in counters), weights
        assert all((state[k] >= 0).all() for k in variances)
        torch.testing.assert_close(state, pure, atol=1e-6, rtol=0)
    engine.set_weights((2.0, -2.0, 1.0))  # 0.5 * 2 - 1.5 * 2 + 2.5 = 0.5: still positive, nothing clamped
    assert torch.equal(engine.model.state_dict()[variances[0]], torch.full_like(base[variances[0]], 0.5))
    engine.set_weights((-1.0, 2.0, 0.0))  # -0.5 + 3 = 2.5
    engine.set_weights((2.0, 0.0, -1.0))  # 1 - 2.5 < 0: clamped
    assert torch.equal(engine.model.state_dict()[variances[0]], torch.zeros_like(base[variances[0]]))


def test_n_endpoints_must_share_one_architecture(theta_pair):
    theta0, theta1 = theta_pair
    other = {k: v for k, v in theta1.items() if k != "head.bias"}
    with pytest.raises(WiseftError, match=r"endpoint 2 vs endpoint 0: .*head\.bias missing"):
        WeightEndpoints([theta0, theta1, other])
