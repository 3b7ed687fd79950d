"""Predictions across a fixed alpha grid, and the live prediction path the app's slider uses.

The Playground draws probability-vs-alpha for each image: 21 interpolations and forwards, done
once per (pair, images) and cached by the caller. Every slider position inside [0, 1] is a grid
point, so moving the slider there is a cache lookup; extrapolated or per-block alphas take the live
path (``set_alpha`` + one forward). Output-space ensembles mix the grid's endpoint logits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from wiseft_core.interpolation import WeightInterpolator, ensemble_outputs
from wiseft_core.predict import predict_logits

ALPHA_GRID: tuple[float, ...] = tuple(round(i * 0.05, 2) for i in range(21))


def forward_logits(model: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """Logits on the model's device (batch from ``predict.to_batch``), returned on the CPU in fp32."""
    device = next(model.parameters()).device
    return predict_logits(model, batch.to(device)).cpu()


def grid_index(alpha: float, alphas: Sequence[float] = ALPHA_GRID) -> int | None:
    """Index of ``alpha`` on the grid (to 1e-6), or None when it needs a live interpolation."""
    for i, a in enumerate(alphas):
        if abs(a - alpha) < 1e-6:
            return i
    return None


@dataclass
class AlphaGrid:
    """Logits of each image at each grid alpha: ``logits[a, i, c]`` for alpha ``alphas[a]``, image ``i``."""

    alphas: tuple[float, ...]
    logits: torch.Tensor

    def probs(self) -> torch.Tensor:
        return self.logits.softmax(dim=-1)

    def weight_space_logits(self, alpha: float) -> torch.Tensor | None:
        """Cached logits at a grid alpha, or None off the grid."""
        index = grid_index(alpha, self.alphas)
        return None if index is None else self.logits[index]

    def output_space_logits(self, alpha: float) -> torch.Tensor:
        """Output-space ensemble at any alpha from the cached endpoints (alpha 0 and 1 must be on the grid)."""
        return ensemble_outputs(self.logits[grid_index(0.0, self.alphas)],
                                self.logits[grid_index(1.0, self.alphas)], alpha)

    def output_space_probs_over_grid(self) -> torch.Tensor:
        return torch.stack([self.output_space_logits(a) for a in self.alphas]).softmax(dim=-1)


def compute_alpha_grid(
    interpolator: WeightInterpolator, batch: torch.Tensor, alphas: Sequence[float] = ALPHA_GRID
) -> AlphaGrid:
    """Interpolate to each grid alpha and run the whole image batch once per alpha (21 forwards).

    Leaves the interpolator at the last grid alpha; callers that keep a "current alpha" must set
    it again afterwards.
    """
    rows = []
    for alpha in alphas:
        interpolator.set_alpha(alpha)
        rows.append(forward_logits(interpolator.model, batch))
    return AlphaGrid(alphas=tuple(alphas), logits=torch.stack(rows))


def live_weight_space_logits(
    interpolator: WeightInterpolator, batch: torch.Tensor, alpha: float,
    block_alphas: Sequence[tuple[str, float]] = (),
) -> torch.Tensor:
    """The slider's uncached path: rewrite the live weights to ``alpha`` and run one forward."""
    interpolator.set_alpha(alpha, block_alphas)
    return forward_logits(interpolator.model, batch)


def output_space_logits(zeroshot: torch.nn.Module, finetuned: torch.nn.Module, batch: torch.Tensor,
                        alpha: float) -> torch.Tensor:
    """Output-space ensemble from scratch: two forwards, then mix the logits (what the app times)."""
    return ensemble_outputs(forward_logits(zeroshot, batch), forward_logits(finetuned, batch), alpha)
