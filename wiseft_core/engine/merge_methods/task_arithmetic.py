"""Task arithmetic (Ilharco et al., 2023): theta0 + scale * sum_i (theta_i - theta0)."""

from __future__ import annotations

from dataclasses import dataclass

from wiseft_core.engine.merge_methods.registry import MergeMethod, register


@dataclass(frozen=True)
class TaskArithmeticConfig:
    scale: float = 1.0  # lambda in the paper


def task_weights(config: TaskArithmeticConfig, count: int) -> tuple[float, ...]:
    """theta0 + s sum (theta_i - theta0) = (1 - count s) theta0 + s sum theta_i: affine, so the engine mixes it."""
    return (1.0 - count * config.scale, *(config.scale,) * count)


def _merge(config: TaskArithmeticConfig, name, base, finetuned):
    return base + config.scale * sum(t - base for t in finetuned)


METHOD = register(MergeMethod(
    name="task-arithmetic", config_type=TaskArithmeticConfig, merge=_merge, weights=task_weights,
    aliases={"lambda": "scale"}, summary="theta0 + lambda * sum_i tau_i, tau_i = theta_i - theta0",
))
