"""Per-image outputs along the straight line between two classifiers: prediction and loss at every alpha.

Accuracy curves (:mod:`wiseft_core.evaluate.sweep`) count; flips and the loss landscape need to know *which*
image is right at which alpha and how confident the model is. Both come from one pass per alpha
through the same engine and the same dataset items as the sweep (``evaluation.PreparedImages``), so
alpha 0 and 1 reproduce the endpoints' own outputs bit for bit. Unreadable images are kept in place
with label and predictions -1, so image ``i`` of the result is always item ``i`` of the dataset.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from wiseft_core.data.datasets import LoadedDataset
from wiseft_core.engine.alphas import ENSEMBLES
from wiseft_core.engine.interpolation import WeightInterpolator, ensemble_outputs
from wiseft_core.engine.pair import ClassifierPair
from wiseft_core.evaluate.evaluation import PreparedImages, collate_readable
from wiseft_core.serve.jobs import CancelToken, cancellable

# Lends a live model already at the alpha asked for, e.g. ``InterpolatorPool.at`` (the app's shared pool).
LiveModels = Callable[[float], AbstractContextManager[WeightInterpolator]]
CACHE_LIMIT_BYTES = 2 << 30


@dataclass
class AlongAlpha:
    """One dataset, one ensemble: ``predictions[k, i]`` is image i's class at ``alphas[k]`` (-1: unreadable)."""

    spec: str
    ensemble: str
    alphas: list[float]
    labels: np.ndarray  # [n] int64, -1 for unreadable images
    predictions: np.ndarray  # [len(alphas), n] int64
    loss_sum: np.ndarray  # [len(alphas)] float64: summed cross-entropy over readable images
    names: list[str] | None = None  # file paths, when the dataset has them

    @property
    def readable(self) -> np.ndarray:
        return self.labels >= 0

    @property
    def n(self) -> int:
        return int(self.readable.sum())

    @property
    def losses(self) -> np.ndarray:
        """Mean cross-entropy at each alpha."""
        return self.loss_sum / max(self.n, 1)

    @property
    def top1(self) -> np.ndarray:
        """Top-1 accuracy (%) at each alpha, over readable images."""
        correct = (self.predictions[:, self.readable] == self.labels[self.readable]).sum(axis=1)
        return 100.0 * correct / max(self.n, 1)

    def index_of(self, alpha: float) -> int:
        matches = [k for k, a in enumerate(self.alphas) if abs(a - alpha) < 1e-9]
        if not matches:
            raise KeyError(f"alpha {alpha} was not measured (measured: {', '.join(f'{a:g}' for a in self.alphas)})")
        return matches[0]


def _batches(loaded: LoadedDataset, transform: Callable, batch_size: int, workers: int
             ) -> Iterator[tuple[torch.Tensor | None, torch.Tensor, list[int], list[int]]]:
    loader = DataLoader(PreparedImages(loaded, transform), batch_size=batch_size, shuffle=False,
                        num_workers=workers, collate_fn=collate_readable)
    yield from loader


class _Reusable:
    """The preprocessed batches, kept after the first pass while they fit (one pass per alpha follows)."""

    def __init__(self, loaded: LoadedDataset, transform: Callable, batch_size: int, workers: int,
                 limit_bytes: int = CACHE_LIMIT_BYTES):
        self.args = (loaded, transform, batch_size, workers)
        self.limit_bytes = limit_bytes
        self.kept: list | None = None

    def __iter__(self):
        if self.kept is not None:
            yield from self.kept
            return
        kept, size = [], 0
        for batch in _batches(*self.args):
            if kept is not None and batch[0] is not None:
                size += batch[0].numel() * batch[0].element_size()
                kept = kept if size <= self.limit_bytes else None
            if kept is not None:
                kept.append(batch)
            yield batch
        self.kept = kept


def _score(logits: torch.Tensor, labels: torch.Tensor, loaded: LoadedDataset) -> tuple[torch.Tensor, float]:
    """(predicted class in the dataset's label space, summed cross-entropy) of one batch."""
    logits = logits.float()
    if loaded.projection is not None:
        logits = loaded.projection(logits)
    labels = labels.to(logits.device)
    return logits.argmax(dim=1).cpu(), float(F.cross_entropy(logits, labels, reduction="sum"))


def own_live_model(pair: ClassifierPair) -> LiveModels:
    """One live model of the caller's own, built on first use (the CLI; the app leases from its pool)."""
    held: list[WeightInterpolator] = []

    @contextmanager
    def at(alpha: float) -> Iterator[WeightInterpolator]:
        if not held:
            held.append(pair.new_interpolator())
        if not held[0].is_at(alpha):
            held[0].set_alpha(alpha)
        yield held[0]

    return at


def _checked(transform: Callable, cancel: CancelToken) -> Callable:
    """The transform, checking the cancel token before each image (decoding a batch takes a while too)."""

    def transform_checked(image):
        cancel.check()
        return transform(image)

    return transform_checked


Outputs = tuple[np.ndarray, np.ndarray, np.ndarray]  # labels [n], predictions [alphas, n], loss sums [alphas]


def _weight_space(pair: ClassifierPair, loaded: LoadedDataset, batches: _Reusable, alphas: list[float],
                  out: Outputs, live: LiveModels, cancel: CancelToken | None, tick: Callable[[], None]) -> None:
    """One pass per alpha through theta(alpha), leasing the live model per batch (the leased model is
    exclusive, so a cancel token may stop it between layers)."""
    labels, predictions, loss_sum = out
    for k, alpha in enumerate(alphas):
        for images, batch_labels, indices, _ in batches:
            if images is None:
                continue
            if cancel is not None:
                cancel.check()
            with live(alpha) as model, cancellable(model.model, cancel):
                logits = model.model(images.to(pair.device))
            predicted, loss = _score(logits, batch_labels, loaded)
            predictions[k, indices] = predicted.numpy()
            labels[indices] = batch_labels.numpy()
            loss_sum[k] += loss
        tick()


def _output_space(pair: ClassifierPair, loaded: LoadedDataset, batches: _Reusable, alphas: list[float],
                  out: Outputs, cancel: CancelToken | None) -> None:
    """One pass through both endpoints, mixed at every alpha. The endpoint models are shared with other
    threads, so the cancel token is checked between batches only (no hooks on a shared model)."""
    labels, predictions, loss_sum = out
    model0, model1 = pair.endpoint_model(0).eval(), pair.endpoint_model(1).eval()
    for images, batch_labels, indices, _ in batches:
        if images is None:
            continue
        if cancel is not None:
            cancel.check()
        images = images.to(pair.device)
        logits0, logits1 = model0(images), model1(images)
        labels[indices] = batch_labels.numpy()
        for k, alpha in enumerate(alphas):
            predicted, loss = _score(ensemble_outputs(logits0, logits1, alpha), batch_labels, loaded)
            predictions[k, indices] = predicted.numpy()
            loss_sum[k] += loss


@torch.no_grad()
def along_alpha(pair: ClassifierPair, loaded: LoadedDataset, alphas: Sequence[float],
                ensembles: Sequence[str] = ("weights",), batch_size: int = 256, workers: int = 0,
                progress: Callable[[int, int], None] | None = None, live: LiveModels | None = None,
                cancel: CancelToken | None = None, keep_bytes: int = CACHE_LIMIT_BYTES) -> list[AlongAlpha]:
    """Predictions and losses of the path from ``pair``'s first to its second classifier, per ensemble.

    ``progress(done, total)`` is called after each pass (one per alpha in weight space, one for all
    alphas in output space) so a page or a CLI can show how far it got. ``live`` lends the weight-space
    model, one lease per batch (default: one of this call's own); ``cancel`` is checked between
    batches and layers, so a cancelled job stops within one layer's forward. Preprocessed batches are
    kept for the next alpha while they fit in ``keep_bytes`` (a served app passes less).
    """
    loaded.check_classifier_width(pair.zeroshot.model.num_classes, pair.classnames)
    alphas = [float(a) for a in alphas]
    transform = pair.preprocessing.eval_transform()
    batches = _Reusable(loaded, transform if cancel is None else _checked(transform, cancel), batch_size, workers,
                        keep_bytes)
    n = len(loaded)
    labels = np.full(n, -1, dtype=np.int64)
    passes = ("weights" in ensembles) * len(alphas) + ("outputs" in ensembles)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, passes)

    results = []
    for ensemble in ensembles:
        predictions = np.full((len(alphas), n), -1, dtype=np.int64)
        loss_sum = np.zeros(len(alphas), dtype=np.float64)
        if ensemble == "weights":
            _weight_space(pair, loaded, batches, alphas, (labels, predictions, loss_sum), live or own_live_model(pair),
                          cancel, tick)
        elif ensemble == "outputs":
            _output_space(pair, loaded, batches, alphas, (labels, predictions, loss_sum), cancel)
            tick()
        else:
            raise ValueError(f"unknown ensemble {ensemble!r}; expected one of {', '.join(ENSEMBLES)}")
        results.append(AlongAlpha(loaded.spec, ensemble, alphas, labels, predictions, loss_sum,
                                  list(loaded.paths) if loaded.paths is not None else None))
    return results
