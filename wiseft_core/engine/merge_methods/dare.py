"""DARE (Yu et al., 2024): drop each task-vector value with probability 1 - density, rescale the rest by 1/density.

Seeded per (seed, tensor name, model index), so the same command gives the same bytes.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import torch

from wiseft_core.engine.merge_methods.registry import MergeMethod, check_fraction, register


@dataclass(frozen=True)
class DareConfig:
    density: float = 0.9  # fraction of each task vector kept
    scale: float = 1.0  # lambda: theta0 + lambda * sum_i dare(tau_i)
    seed: int = 0

    def __post_init__(self):
        check_fraction(self.density, "dare density")


def keep_mask(shape: torch.Size, density: float, seed: int, name: str, index: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed((seed * 1_000_003 + zlib.crc32(name.encode()) * 101 + index) % 2**63)
    return torch.rand(shape, generator=generator) < density


def _merge(config: DareConfig, name, base, finetuned):
    merged = base.clone()
    for index, theta in enumerate(finetuned):
        mask = keep_mask(base.shape, config.density, config.seed, name, index).to(base.device)
        merged += config.scale * (theta - base) * mask / config.density
    return merged


METHOD = register(MergeMethod(
    name="dare", config_type=DareConfig, merge=_merge, aliases={"lambda": "scale"},
    summary="drop-and-rescale task vectors (seeded), then task arithmetic",
))
