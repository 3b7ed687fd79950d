"""N classifiers of one model as engine endpoints: the soups' counterpart of a ClassifierPair.

``load_endpoint_set([zs, ft1, ft2])`` reads every file through the one reader, checks they share classes and
architecture, and binds each loaded model to its row of the engine's stacked buffer (no second copy). A live
model from ``new_interpolator()`` then moves anywhere in their affine span with ``set_weights``: a triangle
between the zero-shot model and two fine-tunes, a uniform soup, WiSE-FT from the zero-shot model to a soup.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from wiseft_core.devices import resolve_device
from wiseft_core.engine.interpolation import WeightEndpoints, WeightInterpolator
from wiseft_core.errors import WiseftError
from wiseft_core.files.checkpoints import CheckpointMeta, LoadedClassifier, build_classifier
from wiseft_core.files.models import Preprocessing
from wiseft_core.files.reader import load_classifier


@dataclass
class EndpointSet:
    """N classifiers whose weights are the rows of one shared, read-only ``WeightEndpoints``."""

    classifiers: list[LoadedClassifier]
    endpoints: WeightEndpoints
    device: torch.device

    @property
    def meta(self) -> CheckpointMeta:
        return self.classifiers[0].meta

    @property
    def classnames(self) -> list[str]:
        return self.meta.classnames

    @property
    def preprocessing(self) -> Preprocessing:
        return self.meta.preprocessing

    def new_interpolator(self) -> WeightInterpolator:
        """A live model of its own (one per session/thread), at endpoint 0 until ``set_weights``."""
        return WeightInterpolator(self.endpoints, build_classifier(self.meta, "meta"), like=self.classifiers[0].model)


def make_endpoint_set(classifiers: Sequence[LoadedClassifier], device: str | torch.device = "cpu",
                      bind: bool = True) -> EndpointSet:
    """Check the classifiers share classes (the engine checks tensors) and bind each to its row.

    ``bind=False`` copies the weights and leaves the classifiers alone: for models shared elsewhere (the room's
    pair), which must not end up as views of a buffer that lives only as long as this set.
    """
    if not classifiers:
        raise WiseftError("no classifier to mix")
    device = resolve_device(device)
    first = classifiers[0]
    for other in classifiers[1:]:
        if other.meta.classnames != first.meta.classnames:
            raise WiseftError(f"{other.path or 'a classifier'} has other classes than {first.path or 'the first'} "
                              f"({len(other.meta.classnames)} vs {len(first.meta.classnames)})")
    endpoints = WeightEndpoints([c.model.state_dict() for c in classifiers], device=device)
    for index, loaded in enumerate(classifiers if bind else ()):
        loaded.model.to(device)
        endpoints.bind(loaded.model, index)
    return EndpointSet(list(classifiers), endpoints, device)


def load_endpoint_set(paths: Sequence[str | os.PathLike], device: str | torch.device = "cpu",
                      classnames: list[str] | str | None = None, trust_pickle: bool = False) -> EndpointSet:
    """Read N checkpoints (later ones may borrow the first one's metadata) as one EndpointSet."""
    if not paths:
        raise WiseftError("give at least one checkpoint")
    first = load_classifier(paths[0], trust_pickle=trust_pickle, classnames=classnames)
    rest = [load_classifier(p, trust_pickle=trust_pickle, like=first.meta) for p in paths[1:]]
    return make_endpoint_set([first, *rest], device)
