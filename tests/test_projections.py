import torch

from wiseft_core.data import projections


def test_imagenet_wnid_order_is_sorted_and_complete():
    wnids = projections.imagenet_wnids()
    assert len(wnids) == 1000 and len(set(wnids)) == 1000
    assert list(wnids) == sorted(wnids)
    assert wnids[0] == "n01440764"  # tench, class 0


def test_imagenet_r_and_a_keep_their_200_columns_in_order():
    for indices, projection in [
        (projections.imagenet_r_indices(), projections.imagenet_r_projection()),
        (projections.imagenet_a_indices(), projections.imagenet_a_projection()),
    ]:
        assert len(indices) == 200 and indices == sorted(indices)
        logits = torch.arange(1000, dtype=torch.float32).repeat(3, 1)
        out = projection(logits)
        assert out.shape == (3, 200)
        assert out[0].tolist() == [float(i) for i in indices]


def test_subset_projection_ignores_a_winning_column_outside_the_subset():
    projection = projections.SubsetProjection([1, 3])
    logits = torch.tensor([[0.0, 1.0, 9.0, 2.0], [0.0, 5.0, 9.0, 2.0]])
    # Column 2 wins overall, but only columns 1 and 3 compete: label 1 (column 3) then label 0 (column 1).
    assert projection(logits).argmax(dim=1).tolist() == [1, 0]


def test_group_max_projection_takes_the_max_over_each_group():
    projection = projections.GroupMaxProjection([[0, 2], [1], [3, 4, 5]])
    logits = torch.tensor([[1.0, 7.0, 3.0, 0.0, 5.0, 2.0],
                           [9.0, 0.0, -1.0, 4.0, 4.5, 8.0]])
    assert projection(logits).tolist() == [[3.0, 7.0, 5.0], [9.0, 0.0, 8.0]]


def test_objectnet_has_113_classes_mapping_125_imagenet_classes():
    mapping = projections.objectnet_mapping()
    assert len(mapping) == 113
    assert list(mapping) == sorted(mapping)
    assert sum(len(e["imagenet_indices"]) for e in mapping.values()) == 125
    projection = projections.objectnet_projection()
    logits = torch.full((1, 1000), -1.0)
    # alarm_clock (label 0) maps to ImageNet 409 and 530: the max of the two counts.
    logits[0, 530] = 4.0
    logits[0, 409] = 2.0
    out = projection(logits)
    assert out.shape == (1, 113)
    assert out[0, 0].item() == 4.0
    assert out.argmax().item() == 0
