"""A live classifier from a soup of loaded classifiers, and its top-1 on a few images (the Soups page)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from PIL import Image

from wiseft_core.engine.predict import predict_probs
from wiseft_core.errors import WiseftError
from wiseft_core.evaluate.soup_average import soup_state_dict
from wiseft_core.files.checkpoints import LoadedClassifier, build_classifier


def normalised(weights: Sequence[float]) -> list[float]:
    """Weights scaled to sum to 1 (a point on the simplex); all zero is refused with one clear line."""
    total = float(sum(weights))
    if not math.isfinite(total) or total <= 0 or min(weights) < 0:
        raise WiseftError(f"soup weights must be non-negative and not all zero, got {list(weights)}")
    return [float(w) / total for w in weights]


def mixed_classifier(classifiers: Sequence[LoadedClassifier], weights: Sequence[float]) -> torch.nn.Module:
    """A new classifier (eval mode, CPU) whose weights are ``sum_i weights[i] * classifiers[i]``."""
    if not classifiers:
        raise WiseftError("pick at least one model for the soup")
    state = soup_state_dict([c.model.state_dict() for c in classifiers], weights)
    model = build_classifier(classifiers[0].meta, "cpu")
    model.load_state_dict(state)
    model.requires_grad_(False)
    return model.eval()


def top1_predictions(model: torch.nn.Module, images: Sequence[Image.Image], meta) -> list[tuple[str, float]]:
    """(class name, probability) of the most probable class for each image."""
    if not images:
        return []
    probs = predict_probs(model, images, meta.preprocessing)
    best = probs.argmax(dim=1).tolist()
    return [(meta.classnames[c], float(probs[i, c])) for i, c in enumerate(best)]
