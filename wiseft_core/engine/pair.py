"""A zero-shot/fine-tuned classifier pair: the two endpoints every WiSE-FT operation starts from."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import torch

from wiseft_core.devices import resolve_device
from wiseft_core.engine.blocks import BlockAlphas
from wiseft_core.engine.interpolation import WeightEndpoints, WeightInterpolator, interpolate_state_dicts
from wiseft_core.errors import WiseftError
from wiseft_core.files.checkpoints import CheckpointMeta, LoadedClassifier, build_classifier, load_classifier
from wiseft_core.files.models import ImageClassifier, Preprocessing


@dataclass
class ClassifierPair:
    """Both endpoints, sharing memory with the engine's read-only flat buffers."""

    zeroshot: LoadedClassifier
    finetuned: LoadedClassifier
    endpoints: WeightEndpoints
    device: torch.device

    @property
    def meta(self) -> CheckpointMeta:
        return self.zeroshot.meta

    @property
    def classnames(self) -> list[str]:
        return self.zeroshot.meta.classnames

    @property
    def preprocessing(self) -> Preprocessing:
        return self.zeroshot.meta.preprocessing

    def new_interpolator(self, device: str | torch.device | None = None) -> WeightInterpolator:
        """A live model of its own (one per session/thread); the endpoints stay shared."""
        if device is not None and torch.device(device) != self.device:
            raise WiseftError(f"this pair lives on {self.device}; load it again for {device}")
        return WeightInterpolator(self.endpoints, build_classifier(self.meta, "meta"), like=self.zeroshot.model)

    def differs_only_in_head(self) -> bool:
        """True for a linear-classifier fine-tune: the image towers are identical."""
        ep = self.endpoints
        return all(
            torch.equal(ep.view(0, s.name), ep.view(1, s.name)) for s in ep.segments if not s.name.startswith("head.")
        )

    def endpoint_model(self, side: int) -> ImageClassifier:
        return (self.zeroshot if side == 0 else self.finetuned).model

    def merged_checkpoint(self, alpha: float, block_alphas: BlockAlphas = ()) -> MergedCheckpoint:
        """theta(alpha) as a new state dict, with metadata whose recipe says how to reproduce and verify it.

        The CLI's ``interpolate`` saves it and the app's download serialises it: the same bytes either way.
        """
        theta = interpolate_state_dicts(self.zeroshot.model.state_dict(), self.finetuned.model.state_dict(),
                                        alpha, block_alphas)
        return MergedCheckpoint(theta, replace(self.meta, recipe=merge_recipe(self, alpha, block_alphas)))


class MergedCheckpoint(NamedTuple):
    """What ``save_classifier(path, *merged)`` or ``checkpoint_bytes(*merged)`` writes."""

    state_dict: dict[str, torch.Tensor]
    meta: CheckpointMeta


def merge_recipe(pair: ClassifierPair, alpha: float, block_alphas: BlockAlphas) -> dict:
    """The recipe stored in a merged checkpoint: enough to reproduce and verify it."""
    return {
        "method": "wise-ft", "alpha": alpha,
        "block_alphas": [[p, a] for p, a in block_alphas],
        "zeroshot": Path(pair.zeroshot.path).name if pair.zeroshot.path else None,
        "finetuned": Path(pair.finetuned.path).name if pair.finetuned.path else None,
        "zeroshot_sha256": pair.zeroshot.sha256, "finetuned_sha256": pair.finetuned.sha256,
    }


def make_pair(zeroshot: LoadedClassifier, finetuned: LoadedClassifier, device: str | torch.device = "cpu"
              ) -> ClassifierPair:
    """Check the two classifiers are interpolable and build the shared engine endpoints."""
    device = resolve_device(device)
    if zeroshot.meta.classnames != finetuned.meta.classnames:
        a, b = zeroshot.meta.classnames, finetuned.meta.classnames
        first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        raise WiseftError(
            f"the checkpoints have different classes ({len(a)} vs {len(b)}; first difference at index {first})"
        )
    theta0, theta1 = zeroshot.model.state_dict(), finetuned.model.state_dict()
    endpoints = WeightEndpoints(theta0, theta1, device=device)
    for side, loaded in enumerate((zeroshot, finetuned)):
        loaded.model.to(device)
        endpoints.bind(loaded.model, side)
    return ClassifierPair(zeroshot, finetuned, endpoints, device)


def load_pair(
    zeroshot_path: str | os.PathLike,
    finetuned_path: str | os.PathLike,
    device: str | torch.device = "cpu",
    trust_pickle: bool = False,
    classnames: list[str] | str | None = None,
) -> ClassifierPair:
    """Load both checkpoints (the fine-tuned one may be a plain state dict using the zero-shot metadata).

    ``classnames`` names the classes of a zero-shot side that stores none (a wise-ft file).
    """
    zeroshot = load_classifier(zeroshot_path, trust_pickle=trust_pickle, classnames=classnames)
    finetuned = load_classifier(finetuned_path, trust_pickle=trust_pickle, like=zeroshot.meta)
    return make_pair(zeroshot, finetuned, device)
