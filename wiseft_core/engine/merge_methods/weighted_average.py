"""Weighted average of N fine-tunes (a uniform soup when the weights are equal; Wortsman et al., model soups)."""

from __future__ import annotations

from dataclasses import dataclass

from wiseft_core.engine.interpolation import AFFINE_TOLERANCE
from wiseft_core.engine.merge_methods.registry import MergeMethod, register
from wiseft_core.errors import WiseftError


@dataclass(frozen=True)
class WeightedAverageConfig:
    weights: tuple[float, ...] = ()  # one per fine-tuned model, summing to 1; empty: uniform

    def __post_init__(self):
        if self.weights and abs(sum(self.weights) - 1.0) > AFFINE_TOLERANCE:
            raise WiseftError(f"weighted-average weights must sum to 1, got {list(self.weights)}")


def average_weights(config: WeightedAverageConfig, count: int) -> tuple[float, ...]:
    if config.weights and len(config.weights) != count:
        raise WiseftError(f"weighted-average: {len(config.weights)} weight(s) for {count} fine-tuned checkpoint(s)")
    return (0.0, *(config.weights or (1.0 / count,) * count))


def _merge(config: WeightedAverageConfig, name, base, finetuned):
    weights = average_weights(config, len(finetuned))[1:]
    return sum(w * t for w, t in zip(weights, finetuned))


METHOD = register(MergeMethod(
    name="weighted-average", config_type=WeightedAverageConfig, merge=_merge, weights=average_weights,
    summary="sum_i w_i theta_i over the fine-tunes (uniform soup: w_i = 1/N)",
))
