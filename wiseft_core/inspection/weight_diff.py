"""How far fine-tuning moved each block: ||theta1 - theta0|| / ||theta0|| and cosine similarity.

This is what the Weights page and `wiseft inspect` show; for a linear-classifier fine-tune every
block but the head has a relative change of exactly 0.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass

import torch

from wiseft_core.engine.blocks import block_name, block_rank
from wiseft_core.engine.interpolation import check_compatible


@dataclass(frozen=True)
class BlockDiff:
    block: str
    rel_change: float
    cosine: float
    numel: int

    def to_dict(self) -> dict:
        return asdict(self)


def weight_diff(theta0: dict[str, torch.Tensor], theta1: dict[str, torch.Tensor]) -> list[BlockDiff]:
    """Per-block statistics over the floating tensors, in forward order (float64 accumulation)."""
    check_compatible(theta0, theta1)
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0, 0])  # d2, n0, n1, dot, numel
    for key, t0 in theta0.items():
        if not t0.is_floating_point():
            continue
        a = t0.detach().double().reshape(-1)
        b = theta1[key].detach().double().reshape(-1).to(a.device)
        acc = sums[block_name(key)]
        acc[0] += float(((b - a) ** 2).sum())
        acc[1] += float((a * a).sum())
        acc[2] += float((b * b).sum())
        acc[3] += float((a * b).sum())
        acc[4] += a.numel()
    out = []
    for block in sorted(sums, key=block_rank):
        d2, n0, n1, dot, numel = sums[block]
        rel = (d2 ** 0.5) / (n0 ** 0.5) if n0 > 0 else (0.0 if d2 == 0 else float("inf"))
        cos = dot / ((n0 * n1) ** 0.5) if n0 > 0 and n1 > 0 else 1.0
        out.append(BlockDiff(block, rel, cos, int(numel)))
    return out
