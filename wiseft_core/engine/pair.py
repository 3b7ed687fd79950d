"""A zero-shot/fine-tuned classifier pair: the two endpoints every WiSE-FT operation starts from."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import torch

from wiseft_core.devices import resolve_device
from wiseft_core.engine.blocks import BlockAlphas
from wiseft_core.engine.interpolation import (
    VARIANCE_SUFFIXES,
    WeightEndpoints,
    WeightInterpolator,
    interpolate_state_dicts,
)
from wiseft_core.engine.merge_methods import DEFAULT_METHOD, MergeSpec, make_spec
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
    merge: MergeSpec | None = None  # how the fine-tuned side was made (None: it is one fine-tuned file, WiSE-FT)

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


def _file_name(loaded: LoadedClassifier) -> str | None:
    return Path(loaded.path).name if loaded.path else None


def merge_recipe(pair: ClassifierPair, alpha: float, block_alphas: BlockAlphas) -> dict:
    """The recipe stored in a merged checkpoint: enough to reproduce and verify it.

    Plain WiSE-FT names its two files; another method adds its parameters and names every fine-tune it merged
    (``alpha`` is then WiSE-FT between the zero-shot model and that method's merge).
    """
    recipe = {
        "method": DEFAULT_METHOD, "alpha": alpha,
        "block_alphas": [[p, a] for p, a in block_alphas],
        "zeroshot": _file_name(pair.zeroshot), "finetuned": _file_name(pair.finetuned),
        "zeroshot_sha256": pair.zeroshot.sha256, "finetuned_sha256": pair.finetuned.sha256,
    }
    if pair.merge is not None:
        side = pair.finetuned.meta.recipe or {}
        recipe.update(method=pair.merge.name, params=pair.merge.params(), finetuned=side.get("finetuned"),
                      finetuned_sha256=side.get("finetuned_sha256"))
    return recipe


def merged_side(zeroshot: LoadedClassifier, finetuned: list[LoadedClassifier], merge: MergeSpec) -> LoadedClassifier:
    """The fine-tuned side a merge method makes from the fine-tunes, once, with a recipe naming them all.

    Linear methods are one ``set_weights`` of the engine over (theta0, theta_1..k); transforms (TIES, DARE)
    go tensor by tensor. BatchNorm variances are kept non-negative.
    """
    merge.check_count(len(finetuned))
    theta0 = zeroshot.model.state_dict()
    thetas = [loaded.model.state_dict() for loaded in finetuned]
    if merge.method.linear:
        live = WeightInterpolator(WeightEndpoints([theta0, *thetas]), build_classifier(zeroshot.meta, "meta"),
                                  like=zeroshot.model)
        live.set_weights(merge.weights_over(len(thetas)))
        model = live.model
    else:
        merged = {k: merge.merge_tensor(k, v, [t[k] for t in thetas]) if v.is_floating_point() else thetas[0][k]
                  for k, v in theta0.items()}
        model = build_classifier(zeroshot.meta)
        model.load_state_dict(merged, strict=True)
        model.eval().requires_grad_(False)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith(VARIANCE_SUFFIXES):
                tensor.clamp_(min=0.0)
    recipe = {"method": merge.name, "params": merge.params(), "finetuned": [_file_name(f) for f in finetuned],
              "finetuned_sha256": [f.sha256 for f in finetuned]}
    return LoadedClassifier(model=model, meta=replace(zeroshot.meta, recipe=recipe), path=None)


def make_pair(zeroshot: LoadedClassifier, finetuned: LoadedClassifier | list[LoadedClassifier],
              device: str | torch.device = "cpu", merge: MergeSpec | None = None) -> ClassifierPair:
    """Check the two classifiers are interpolable and build the shared engine endpoints.

    With several fine-tunes, or a ``merge`` method other than plain WiSE-FT, the fine-tuned side is that
    method's merge of them (:func:`merged_side`).
    """
    device = resolve_device(device)
    finetuned = list(finetuned) if isinstance(finetuned, (list, tuple)) else [finetuned]
    for other in finetuned:
        _check_same_classes(zeroshot, other)
    if merge is not None and merge.name == "wise-ft" and len(finetuned) == 1:
        merge = None  # the plain pair: no copy, and the recipe of every existing merge
    if merge is None:
        make_spec().check_count(len(finetuned))
        finetuned = finetuned[0]
    else:
        finetuned = merged_side(zeroshot, finetuned, merge)
    theta0, theta1 = zeroshot.model.state_dict(), finetuned.model.state_dict()
    endpoints = WeightEndpoints(theta0, theta1, device=device)
    for side, loaded in enumerate((zeroshot, finetuned)):
        loaded.model.to(device)
        endpoints.bind(loaded.model, side)
    return ClassifierPair(zeroshot, finetuned, endpoints, device, merge)


def _check_same_classes(zeroshot: LoadedClassifier, finetuned: LoadedClassifier) -> None:
    if zeroshot.meta.classnames != finetuned.meta.classnames:
        a, b = zeroshot.meta.classnames, finetuned.meta.classnames
        first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        raise WiseftError(
            f"the checkpoints have different classes ({len(a)} vs {len(b)}; first difference at index {first})"
        )


def load_pair(
    zeroshot_path: str | os.PathLike,
    finetuned_path: str | os.PathLike | list[str | os.PathLike],
    device: str | torch.device = "cpu",
    trust_pickle: bool = False,
    classnames: list[str] | str | None = None,
    merge: MergeSpec | None = None,
) -> ClassifierPair:
    """Load both checkpoints (the fine-tuned one may be a plain state dict using the zero-shot metadata).

    ``classnames`` names the classes of a zero-shot side that stores none (a wise-ft file). Several
    fine-tuned paths are merged by ``merge`` (e.g. ``make_spec("ties", ["density=0.2"])``).
    """
    zeroshot = load_classifier(zeroshot_path, trust_pickle=trust_pickle, classnames=classnames)
    paths = finetuned_path if isinstance(finetuned_path, (list, tuple)) else [finetuned_path]
    finetuned = [load_classifier(path, trust_pickle=trust_pickle, like=zeroshot.meta) for path in paths]
    return make_pair(zeroshot, finetuned, device, merge)
