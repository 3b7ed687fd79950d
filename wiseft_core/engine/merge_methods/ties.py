"""TIES-merging (Yadav et al., 2023): trim each task vector, elect a sign per value, average the agreeing ones."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from wiseft_core.engine.merge_methods.registry import MergeMethod, check_fraction, register


@dataclass(frozen=True)
class TiesConfig:
    density: float = 0.2  # fraction of each task vector kept (largest magnitudes), per tensor
    scale: float = 1.0  # lambda

    def __post_init__(self):
        check_fraction(self.density, "ties density")


def trim(tau: torch.Tensor, density: float) -> torch.Tensor:
    """Keep the ``ceil(density * numel)`` largest-magnitude values of one task vector, zero the rest."""
    keep = math.ceil(density * tau.numel())
    if keep >= tau.numel():
        return tau.clone()
    flat = tau.reshape(-1)
    mask = torch.zeros_like(flat, dtype=torch.bool)
    mask[flat.abs().topk(keep, sorted=False).indices] = True
    return (flat * mask).view(tau.shape)


def _merge(config: TiesConfig, name, base, finetuned):
    trimmed = torch.stack([trim(t - base, config.density) for t in finetuned])
    sign = torch.sign(trimmed.sum(dim=0))  # elected by total mass
    agree = (torch.sign(trimmed) == sign) & (trimmed != 0)
    merged = (trimmed * agree).sum(dim=0) / agree.sum(dim=0).clamp(min=1)  # disjoint mean
    return base + config.scale * merged


METHOD = register(MergeMethod(
    name="ties", config_type=TiesConfig, merge=_merge, aliases={"lambda": "scale", "k": "density"},
    summary="trim task vectors to the top density, elect signs, mean of the agreeing values",
))
