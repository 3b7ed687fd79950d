import torch
from PIL import Image

from wiseft_core.engine.predict import predict_probs, top_k


def test_probabilities_are_deterministic_and_normalised(tiny_vit):
    classifier, meta, _ = tiny_vit
    images = [Image.new("RGB", (50, 40), (200, 30, 30)), Image.new("RGB", (32, 32), (0, 0, 0))]
    probs = predict_probs(classifier, images, meta.preprocessing)
    assert probs.shape == (2, 5)
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(2))
    assert torch.equal(probs, predict_probs(classifier, images, meta.preprocessing))


def test_top_k_orders_by_probability_and_breaks_ties_by_index():
    probs = torch.tensor([0.1, 0.4, 0.1, 0.4])
    assert top_k(probs, ["a", "b", "c", "d"], 3) == [("b", 0.4000000059604645), ("d", 0.4000000059604645),
                                                     ("a", 0.10000000149011612)]
    assert len(top_k(probs, ["a", "b", "c", "d"], 10)) == 4
