"""Live soups for the app: N loaded classifiers as engine endpoints, mixed in place per weights vector.

A slider move on the Soups page costs one ``set_weights`` on a leased live model (the engine's fused,
allocation-free mix) and one forward: the endpoints are one shared stacked buffer, the live models come
from a small pool as for the alpha slider, so a room costs N + ``--live-models`` copies of the weights,
whatever the number of viewers. That cost is checked against a budget from the files' sizes before
anything is read, and refused in one line when over.
"""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from wiseft_core.engine.endpoint_set import EndpointSet, make_endpoint_set
from wiseft_core.engine.predict import predict_logits
from wiseft_core.errors import WiseftError
from wiseft_core.files.checkpoints import LoadedClassifier
from wiseft_core.files.reader import load_classifier
from wiseft_core.serve.interpolator_pool import InterpolatorPool

SOUP_BUDGET_BYTES = 8 << 30  # endpoints + live models of one soup in the app's memory


class OverBudget(WiseftError):
    """A soup refused on its memory before any work: the message is English; a page words the fields its own way."""

    def __init__(self, models: int, live_models: int, needed: int, budget: int) -> None:
        self.models, self.live_models = models, live_models
        self.needed_gib, self.budget_gib = needed / 2**30, budget / 2**30
        super().__init__(f"a soup of {models} models with {live_models} live mix(es) needs about "
                         f"{self.needed_gib:.1f} GiB, over the {self.budget_gib:.1f} GiB budget: pick fewer or "
                         "smaller models")


def normalised(weights: Sequence[float]) -> list[float]:
    """Weights scaled to sum to 1 (a point on the simplex); all zero is refused with one clear line."""
    total = float(sum(weights))
    if not math.isfinite(total) or total <= 0 or min(weights) < 0:
        raise WiseftError(f"soup weights must be non-negative and not all zero, got {list(weights)}")
    return [float(w) / total for w in weights]


def soup_memory_bytes(file_sizes: Sequence[int], live_models: int) -> int:
    """What a live soup holds: every endpoint once (the stacked buffer) and ``live_models`` mixes of the largest."""
    return sum(file_sizes) + live_models * max(file_sizes, default=0)


def model_bytes(classifier: LoadedClassifier) -> int:
    """The bytes of a loaded classifier's weights (what one more endpoint row or live model costs)."""
    return sum(t.numel() * t.element_size() for t in classifier.model.state_dict().values())


def check_soup_budget(sizes: Sequence[int], live_models: int, budget: int | None = None) -> None:
    """Refuse, in one line and before any work, a soup whose endpoints (``sizes`` in bytes, from the files or the
    loaded models) and live models exceed ``budget``."""
    budget = SOUP_BUDGET_BYTES if budget is None else budget
    needed = soup_memory_bytes(sizes, live_models)
    if needed > budget:
        raise OverBudget(len(sizes), live_models, needed, budget)


@dataclass
class LiveSoup:
    """Named endpoints and the room's pool of live mixes over them."""

    names: list[str]
    endpoints: EndpointSet
    pool: InterpolatorPool

    def weights_for(self, picked: Sequence[str], weights: Sequence[float]) -> tuple[float, ...]:
        """The engine's weights over every endpoint: ``weights`` at the picked names, 0 elsewhere."""
        unknown = [name for name in picked if name not in self.names]
        if unknown:
            raise WiseftError(f"not an ingredient of this soup: {', '.join(unknown)}")
        by_name = dict(zip(picked, weights))
        return tuple(float(by_name.get(name, 0.0)) for name in self.names)

    def top1(self, picked: Sequence[str], weights: Sequence[float], batch: torch.Tensor) -> list[tuple[str, float]]:
        """(class, probability) of the mix's most probable class on each preprocessed image: one mix, one forward."""
        vector = self.weights_for(picked, weights)
        with self.pool.lease() as live:
            if live.weights != vector:
                live.set_weights(vector)
            probs = predict_logits(live.model, batch.to(self.endpoints.device)).softmax(dim=-1).cpu()
        best = probs.argmax(dim=1).tolist()
        return [(self.endpoints.classnames[c], float(probs[i, c])) for i, c in enumerate(best)]


def open_live_soup(files: Mapping[str, str | os.PathLike], live_models: int = 2, budget: int | None = None,
                   device: str | torch.device = "cpu") -> LiveSoup:
    """Check the budget, read every file once, stack them as endpoints and make the pool (live models on demand)."""
    if not files:
        raise WiseftError("no model to mix")
    check_soup_budget([Path(p).stat().st_size for p in files.values()], live_models, budget)
    first, *rest = files.values()
    loaded = [load_classifier(first)]
    loaded += [load_classifier(path, like=loaded[0].meta) for path in rest]
    endpoints = make_endpoint_set(loaded, device)
    return LiveSoup(list(files), endpoints, InterpolatorPool(endpoints.new_interpolator, size=live_models))


def live_soup_of(named: Mapping[str, LoadedClassifier], live_models: int = 1, budget: int | None = None
                 ) -> LiveSoup:
    """A live soup over classifiers already loaded and shared (e.g. the room's pair): their weights are copied into
    the soup's own stacked buffer and the classifiers themselves are left as they are."""
    classifiers = list(named.values())
    if not classifiers:
        raise WiseftError("no model to mix")
    check_soup_budget([model_bytes(c) for c in classifiers], live_models, budget)
    endpoints = make_endpoint_set(classifiers, next(classifiers[0].model.parameters()).device, bind=False)
    return LiveSoup(list(named), endpoints, InterpolatorPool(endpoints.new_interpolator, size=live_models))


class SoupCache:
    """At most ``size`` live soups by key, built on first need, one build at a time (a room asking for the same
    three models builds them once)."""

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self._soups: OrderedDict[Hashable, LiveSoup] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, build: Callable[[], LiveSoup]) -> LiveSoup:
        with self._lock:
            soup = self._soups.get(key)
            if soup is None:
                soup = self._soups[key] = build()
                while len(self._soups) > self.size:
                    self._soups.popitem(last=False)
            self._soups.move_to_end(key)
            return soup
