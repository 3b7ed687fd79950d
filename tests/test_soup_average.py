"""Soups of state dicts: the plain mean, weights as given, integer counters, and the greedy recipe."""

import pytest
import torch
from conftest import perturbed

from wiseft_core.errors import WiseftError
from wiseft_core.evaluate.soup_average import greedy_soup, soup_state_dict, uniform_weights


@pytest.fixture
def resnet_thetas():
    """Three ResNet-like state dicts with a BatchNorm step counter each."""
    base = {"conv.weight": torch.randn(4, 3, 3, 3, generator=torch.Generator().manual_seed(0)),
            "bn.running_mean": torch.zeros(4), "bn.num_batches_tracked": torch.tensor(7)}
    thetas = [perturbed(base, seed) for seed in (1, 2, 3)]
    for k, theta in enumerate(thetas):
        theta["bn.num_batches_tracked"] = torch.tensor(100 + k)
    return thetas


def test_uniform_soup_equals_the_plain_mean_of_every_tensor(theta_pair):
    thetas = [*theta_pair, perturbed(theta_pair[0], seed=5)]
    soup = soup_state_dict(thetas, uniform_weights(3))
    for name, tensor in thetas[0].items():
        if tensor.is_floating_point():
            mean = torch.stack([t[name] for t in thetas]).mean(dim=0)
            assert torch.allclose(soup[name], mean, atol=1e-6, rtol=0), name


def test_weights_are_used_as_given_so_affine_weights_extrapolate(resnet_thetas):
    a, b, c = resnet_thetas
    soup = soup_state_dict([a, b, c], [1.5, -0.25, -0.25])
    expected = 1.5 * a["conv.weight"] - 0.25 * b["conv.weight"] - 0.25 * c["conv.weight"]
    assert torch.allclose(soup["conv.weight"], expected, atol=1e-6)


def test_a_vertex_is_exactly_that_ingredient(resnet_thetas):
    soup = soup_state_dict(resnet_thetas, [0.0, 1.0, 0.0])
    assert all(torch.equal(soup[k], resnet_thetas[1][k]) for k in soup)


def test_integer_counters_come_from_the_heaviest_ingredient_not_an_average(resnet_thetas):
    soup = soup_state_dict(resnet_thetas, [0.2, 0.3, 0.5])
    assert soup["bn.num_batches_tracked"].item() == 102
    assert soup["bn.num_batches_tracked"].dtype == torch.int64


@pytest.mark.parametrize("change, message", [
    (lambda t: t.pop("bn.running_mean"), "other tensors"),
    (lambda t: t.__setitem__("conv.weight", torch.zeros(2, 3, 3, 3)), "has shape (2, 3, 3, 3)"),
])
def test_mismatched_ingredients_are_named_in_one_line(resnet_thetas, change, message):
    change(resnet_thetas[2])
    with pytest.raises(WiseftError, match=message.replace("(", r"\(").replace(")", r"\)")):
        soup_state_dict(resnet_thetas, uniform_weights(3))


def test_wrong_number_of_weights_or_non_finite_weights_are_refused(resnet_thetas):
    with pytest.raises(WiseftError, match="needs 3 weights, got 2"):
        soup_state_dict(resnet_thetas, [0.5, 0.5])
    with pytest.raises(WiseftError, match="finite"):
        soup_state_dict(resnet_thetas, [float("nan"), 0.5, 0.5])


def test_greedy_soup_reproduces_a_hand_computed_choice():
    # held-out accuracy of the uniform soup of each subset (by hand): 2 is best alone, 0 helps it, 1 does not,
    # 3 helps {2, 0}; a tie never joins (the paper keeps an ingredient only when accuracy rises).
    table = {(2,): 80.0, (0, 2): 81.0, (0, 1, 2): 80.5, (0, 2, 3): 82.0, (0, 2, 3, 4): 82.0}
    chosen, trace = greedy_soup([2, 0, 1, 3, 4], lambda idx: table[tuple(sorted(idx))])
    assert chosen == [2, 0, 3]
    assert [t["kept"] for t in trace] == [True, True, False, True, False]
    assert [t["score"] for t in trace] == [80.0, 81.0, 80.5, 82.0, 82.0]
