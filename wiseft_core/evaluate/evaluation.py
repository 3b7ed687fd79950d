"""Top-1 accuracy of classifiers on a :class:`~wiseft_core.data.datasets.LoadedDataset`, one shard per rank.

The sweep, the fine-tuning pipeline and the benchmarks all count correct predictions here: logits go
through the dataset's projection (ImageNet-R/-A columns, ObjectNet maxima) before the argmax, each rank
evaluates a strided shard and the counts are summed over ranks. Unreadable images are skipped and
reported, never fatal: a 50k-image run should not die on one truncated JPEG.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch.utils.data import DataLoader, Dataset

from wiseft_core import distributed
from wiseft_core.data.datasets import LoadedDataset
from wiseft_core.engine.interpolation import WeightEndpoints, WeightInterpolator, ensemble_outputs
from wiseft_core.errors import WiseftError

SHOW_UNREADABLE = 5


# Progress bars appear only after this long, so a command that fails at once ends in its one line, not a bar and it.
BAR_DELAY_S = 0.5


@dataclass
class Unreadable:
    """Images that could not be decoded: how many, and the first few paths to show the user."""

    count: int = 0
    first: list[str] = field(default_factory=list)

    def add(self, names: Sequence[str]) -> None:
        self.count += len(names)
        self.first.extend(names[: max(0, SHOW_UNREADABLE - len(self.first))])

    def warn(self, spec: str) -> None:
        """Print the total over ranks (call on every rank; rank 0 prints its first paths)."""
        total = int(distributed.all_reduce_sum(torch.tensor([self.count], dtype=torch.long)).item())
        if total and distributed.current().is_main:
            more = ", ..." if total > len(self.first) else ""
            print(f"wiseft: warning: skipped {total} unreadable image(s) in {spec}: "
                  f"{', '.join(self.first) or '(on other ranks)'}{more}", file=sys.stderr)


class PreparedImages(Dataset):
    """Items of ``loaded`` at ``indices`` as tensors; an unreadable image becomes ``(None, -1, index)``."""

    def __init__(self, loaded: LoadedDataset, transform: Callable, indices: Sequence[int] | None = None):
        self.loaded = loaded
        self.transform = transform
        self.indices = list(range(len(loaded))) if indices is None else list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        index = self.indices[i]
        try:
            image, label = self.loaded.images[index]
        except WiseftError:
            return None, -1, index
        border = self.loaded.crop_border
        if border:
            width, height = image.size
            image = image.crop((border, border, width - border, height - border))
        return self.transform(image), int(label), index


def collate_readable(items):
    """Stack the readable items: ``(images, labels, their indices, indices of unreadable items)``."""
    good = [item for item in items if item[0] is not None]
    bad = [item[2] for item in items if item[0] is None]
    images = torch.stack([item[0] for item in good]) if good else None
    labels = torch.tensor([item[1] for item in good], dtype=torch.long)
    return images, labels, [item[2] for item in good], bad


def iterate_batches(
    loaded: LoadedDataset,
    transform: Callable,
    batch_size: int = 256,
    workers: int = 0,
    unreadable: Unreadable | None = None,
    indices: Sequence[int] | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """This rank's shard (or ``indices``) as preprocessed ``(images, labels)`` batches, in a fixed order."""
    env = distributed.current()
    if indices is None:
        indices = distributed.shard(len(loaded), env.rank, env.world_size)
    loader = DataLoader(PreparedImages(loaded, transform, indices), batch_size=batch_size, shuffle=False,
                        num_workers=workers, collate_fn=collate_readable, persistent_workers=False)
    for images, labels, _, bad in loader:
        if bad and unreadable is not None:
            unreadable.add([loaded.describe(i) for i in bad])
        if images is not None:
            yield images, labels


class BatchCache:
    """Preprocessed batches kept in memory after the first pass, when they fit in ``limit_bytes``.

    A weight-space sweep runs the same images through the model once per alpha; decoding and
    resizing them again each time would dominate on small models (and on the procedural demo world).
    """

    def __init__(self, loaded: LoadedDataset, transform: Callable, batch_size: int, workers: int,
                 limit_bytes: int = 2 << 30):
        self.loaded, self.transform = loaded, transform
        self.batch_size, self.workers, self.limit_bytes = batch_size, workers, limit_bytes
        self.unreadable = Unreadable()
        self._batches: list[tuple[torch.Tensor, torch.Tensor]] | None = None

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self._batches is not None:
            yield from self._batches
            return
        kept: list | None = []
        size = 0
        self.unreadable = Unreadable()
        for images, labels in iterate_batches(self.loaded, self.transform, self.batch_size, self.workers,
                                              self.unreadable):
            if kept is not None:
                size += images.numel() * images.element_size()
                if size <= self.limit_bytes:
                    kept.append((images, labels))
                else:
                    kept = None
            yield images, labels
        self._batches = kept


def score(logits: torch.Tensor, labels: torch.Tensor, loaded: LoadedDataset) -> tuple[int, float]:
    """(correct top-1, summed cross-entropy) after the dataset's projection onto its own label space."""
    if loaded.projection is not None:
        logits = loaded.projection(logits)
    labels = labels.to(logits.device)
    loss = float(torch.nn.functional.cross_entropy(logits.float(), labels, reduction="sum")) if len(labels) else 0.0
    return int((logits.argmax(dim=1) == labels).sum()), loss


def reduce_counts(correct: Sequence[int], n: int) -> tuple[list[int], int]:
    """Sum per-alpha correct counts and the image count over ranks (one all_reduce)."""
    totals = distributed.all_reduce_sum(torch.tensor([*correct, n], dtype=torch.float64))
    values = [int(round(v)) for v in totals.tolist()]
    return values[:-1], values[-1]


def reduce_sums(values: Sequence[float]) -> list[float]:
    """Sum float totals (summed losses) over ranks (one all_reduce)."""
    return distributed.all_reduce_sum(torch.tensor(list(values), dtype=torch.float64)).tolist()


def percent(correct: int, n: int) -> float:
    return 100.0 * correct / n if n else float("nan")


@torch.no_grad()
def accuracy(model: torch.nn.Module, batches, loaded: LoadedDataset, device: torch.device) -> tuple[int, int]:
    """(correct, n) of one classifier, summed over ranks."""
    return accuracy_and_loss(model, batches, loaded, device)[:2]


@torch.no_grad()
def accuracy_and_loss(model: torch.nn.Module, batches, loaded: LoadedDataset, device: torch.device
                      ) -> tuple[int, int, float]:
    """(correct, n, summed cross-entropy) of one classifier, summed over ranks."""
    model.eval()
    correct = n = 0
    loss = 0.0
    for images, labels in batches:
        batch_correct, batch_loss = score(model(images.to(device, non_blocking=True)), labels, loaded)
        correct += batch_correct
        loss += batch_loss
        n += len(labels)
    (correct,), n = reduce_counts([correct], n)
    (loss,) = reduce_sums([loss])
    return correct, n, loss


@torch.no_grad()
def weight_space_accuracies(interpolator: WeightInterpolator, alphas: Sequence[float], batches,
                            loaded: LoadedDataset, device: torch.device, with_loss: bool = False
                            ) -> Iterator[tuple]:
    """(alpha, correct, n[, summed loss]) of theta(alpha): the engine's live model, one pass per alpha."""
    for alpha in alphas:
        interpolator.set_alpha(alpha)
        correct, n, loss = accuracy_and_loss(interpolator.model, batches, loaded, device)
        yield (alpha, correct, n, loss) if with_loss else (alpha, correct, n)


@torch.no_grad()
def output_space_accuracies(model0: torch.nn.Module, model1: torch.nn.Module, alphas: Sequence[float],
                            batches,
                            loaded: LoadedDataset, device: torch.device, with_loss: bool = False) -> list[tuple]:
    """(alpha, correct, n[, summed loss]) for every output-space ensemble from one pass of both endpoints."""
    correct = [0] * len(alphas)
    losses = [0.0] * len(alphas)
    n = 0
    for images, labels in batches:
        images = images.to(device, non_blocking=True)
        logits0, logits1 = model0(images), model1(images)
        for i, alpha in enumerate(alphas):
            batch_correct, batch_loss = score(ensemble_outputs(logits0, logits1, alpha), labels, loaded)
            correct[i] += batch_correct
            losses[i] += batch_loss
        n += len(labels)
    correct, n = reduce_counts(correct, n)
    losses = reduce_sums(losses)
    width = 4 if with_loss else 3
    return [(alpha, c, n, loss)[:width] for alpha, c, loss in zip(alphas, correct, losses, strict=True)]


@torch.no_grad()
def image_features(model, batches, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """This rank's normalised image features and labels (the head's inputs), computed once."""
    model.eval()
    feats, labels = [], []
    for images, batch_labels in batches:
        feats.append(model.features(images.to(device, non_blocking=True)))
        labels.append(batch_labels)
    if not feats:
        return torch.empty(0, model.head.in_features, device=device), torch.empty(0, dtype=torch.long)
    return torch.cat(feats), torch.cat(labels)


@torch.no_grad()
def head_only_accuracies(
    head0: torch.nn.Linear,
    head1: torch.nn.Linear,
    features: torch.Tensor,
    labels: torch.Tensor,
    loaded: LoadedDataset,
    weight_alphas: Sequence[float],
    output_alphas: Sequence[float],
    chunk: int = 8192,
    with_loss: bool = False,
) -> tuple[list[tuple], list[tuple]]:
    """LC fast path: every alpha of both ensembles on cached features (towers identical, heads differ).

    Weight space still goes through the engine, on the only tensors that differ: a WeightInterpolator
    over the two heads, so each ``set_alpha`` costs one small lerp instead of one over the whole tower.
    """
    interpolator = WeightInterpolator(WeightEndpoints(head0.state_dict(), head1.state_dict()), copy.deepcopy(head0))

    def counts(logit_fn: Callable[[torch.Tensor], torch.Tensor]) -> tuple[int, float]:
        scores = [score(logit_fn(features[i:i + chunk]), labels[i:i + chunk], loaded)
                  for i in range(0, len(features), chunk)]
        return sum(c for c, _ in scores), sum(loss for _, loss in scores)

    weights = []
    for alpha in weight_alphas:
        interpolator.set_alpha(alpha)
        weights.append(counts(interpolator.model))
    outputs = [counts(lambda f, a=alpha: ensemble_outputs(head0(f), head1(f), a)) for alpha in output_alphas]
    both = [*weights, *outputs]
    correct, n = reduce_counts([c for c, _ in both], len(labels))
    losses = reduce_sums([loss for _, loss in both])
    width = 4 if with_loss else 3
    w = [(a, c, n, loss)[:width] for a, c, loss in zip(weight_alphas, correct[:len(weights)], losses[:len(weights)],
                                                        strict=True)]
    o = [(a, c, n, loss)[:width] for a, c, loss in zip(output_alphas, correct[len(weights):], losses[len(weights):],
                                                        strict=True)]
    return w, o
