import math

import torch

from wiseft_core.inspection.weight_diff import weight_diff


def test_relative_change_and_cosine_on_known_numbers():
    theta0 = {"image_encoder.conv1.weight": torch.tensor([3.0, 4.0]), "head.weight": torch.tensor([1.0, 0.0])}
    theta1 = {"image_encoder.conv1.weight": torch.tensor([6.0, 8.0]), "head.weight": torch.tensor([0.0, 1.0])}
    diffs = {d.block: d for d in weight_diff(theta0, theta1)}
    assert math.isclose(diffs["embeddings"].rel_change, 1.0) and math.isclose(diffs["embeddings"].cosine, 1.0)
    assert math.isclose(diffs["head"].rel_change, math.sqrt(2)) and math.isclose(diffs["head"].cosine, 0.0,
                                                                                 abs_tol=1e-12)
    assert [d.block for d in weight_diff(theta0, theta1)] == ["embeddings", "head"]


def test_linear_classifier_fine_tune_changes_only_the_head(theta_pair):
    theta0, _ = theta_pair
    theta1 = dict(theta0)
    theta1["head.weight"] = theta0["head.weight"] * 1.5
    diffs = weight_diff(theta0, theta1)
    assert all(d.rel_change == 0.0 for d in diffs if d.block != "head")
    assert math.isclose(next(d for d in diffs if d.block == "head").rel_change, 0.5, rel_tol=1e-6)
