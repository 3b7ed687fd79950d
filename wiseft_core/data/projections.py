"""Logit projections: map a 1000-way ImageNet classifier's logits onto a shifted dataset's label space.

ImageNet-R and ImageNet-A cover 200 ImageNet classes each: only those logit columns compete in the
argmax (a subset projection). ObjectNet's 113 overlapping classes each map to one or more ImageNet
classes: a class's logit is the max over its mapped ImageNet logits. Projections run *after* an
output-space ensemble has mixed the logits, so every ensemble sees the same label space.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import torch

SHIFTS_DIR = Path(__file__).resolve().parents[2] / "assets" / "imagenet_shifts"
NUM_IMAGENET_CLASSES = 1000


class SubsetProjection:
    """Keep the given logit columns, in order: output column j is input column ``indices[j]``."""

    def __init__(self, indices: list[int]):
        self.indices = torch.as_tensor(list(indices), dtype=torch.long)
        self.num_inputs = NUM_IMAGENET_CLASSES

    @property
    def num_outputs(self) -> int:
        return len(self.indices)

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        return logits[:, self.indices.to(logits.device)]


class GroupMaxProjection:
    """Output column j is the max over input columns ``groups[j]`` (ObjectNet's many-to-one mapping)."""

    def __init__(self, groups: list[list[int]]):
        if any(len(g) == 0 for g in groups):
            raise ValueError("every group needs at least one input column")
        width = max(len(g) for g in groups)
        # Pad short groups by repeating their first column: max() is unchanged and the gather is one op.
        padded = [list(g) + [g[0]] * (width - len(g)) for g in groups]
        self.index = torch.as_tensor(padded, dtype=torch.long)
        self.groups = [list(g) for g in groups]
        self.num_inputs = NUM_IMAGENET_CLASSES

    @property
    def num_outputs(self) -> int:
        return len(self.groups)

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        index = self.index.to(logits.device)
        return logits[:, index].amax(dim=-1)


@cache
def imagenet_wnids() -> tuple[str, ...]:
    """The 1000 ImageNet WordNet ids in class-index order (sorted; see assets/imagenet_shifts/README.md)."""
    return tuple((SHIFTS_DIR / "imagenet_wnids.txt").read_text().split())


@cache
def _indices(name: str) -> tuple[int, ...]:
    return tuple(json.loads((SHIFTS_DIR / f"imagenet_{name}_class_indices.json").read_text()))


def imagenet_r_indices() -> list[int]:
    return list(_indices("r"))


def imagenet_a_indices() -> list[int]:
    return list(_indices("a"))


def imagenet_r_projection() -> SubsetProjection:
    return SubsetProjection(imagenet_r_indices())


def imagenet_a_projection() -> SubsetProjection:
    return SubsetProjection(imagenet_a_indices())


@cache
def objectnet_mapping() -> dict[str, dict]:
    """ObjectNet folder name -> {"name": display name, "imagenet_indices": [...]}, sorted by folder."""
    raw = json.loads((SHIFTS_DIR / "objectnet_folder_to_imagenet_indices.json").read_text())
    return dict(sorted(raw.items()))


def objectnet_projection() -> GroupMaxProjection:
    """Label j is the j-th folder of :func:`objectnet_mapping` (sorted folder names)."""
    return GroupMaxProjection([entry["imagenet_indices"] for entry in objectnet_mapping().values()])
