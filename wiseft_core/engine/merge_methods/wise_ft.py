"""WiSE-FT: the fine-tuned side is the one fine-tuned model; alpha does the rest (the paper's method)."""

from __future__ import annotations

from dataclasses import dataclass

from wiseft_core.engine.merge_methods.registry import MergeMethod, register


@dataclass(frozen=True)
class WiseFTConfig:
    """No parameters: alpha (given to every pair command) is WiSE-FT's only knob."""


def _merge(config: WiseFTConfig, name, base, finetuned):
    return finetuned[0].clone()


METHOD = register(MergeMethod(
    name="wise-ft", config_type=WiseFTConfig, merge=_merge, weights=lambda config, count: (0.0, 1.0),
    min_models=1, max_models=1,
    summary="theta(alpha) = (1 - alpha) theta0 + alpha theta1 (Wortsman et al., 2022)",
))
