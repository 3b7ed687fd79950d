"""Predictions of a classifier on PIL images: the same path for the CLI, the app and the benchmarks."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image
from torch import nn

from wiseft_core.files.models import Preprocessing


def to_batch(images: Sequence[Image.Image], preprocessing: Preprocessing,
             device: str | torch.device = "cpu") -> torch.Tensor:
    transform = preprocessing.eval_transform()
    return torch.stack([transform(image) for image in images]).to(device)


@torch.no_grad()
def predict_logits(model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
    return model(batch).float()


def predict_probs(model: nn.Module, images: Sequence[Image.Image], preprocessing: Preprocessing,
                  device: str | torch.device = "cpu") -> torch.Tensor:
    """Softmax probabilities [n_images, n_classes] (the head already includes the temperature)."""
    return predict_logits(model, to_batch(images, preprocessing, device)).softmax(dim=-1).cpu()


def top_k(probs_row: torch.Tensor, classnames: Sequence[str], k: int = 5) -> list[tuple[str, float]]:
    """The k most probable classes, ties broken by class index so results are deterministic."""
    k = max(1, min(k, len(classnames)))
    order = sorted(range(len(classnames)), key=lambda i: (-float(probs_row[i]), i))[:k]
    return [(classnames[i], float(probs_row[i])) for i in order]
