"""The plane through three sets of weights: theta(u, v) = theta0 + u (theta1 - theta0) + v (theta2 - theta0).

With theta0 the zero-shot model and theta1, theta2 two fine-tunes, the plane holds both WiSE-FT
segments (v = 0 and u = 0), the two-model uniform soup (u = v = 1/2) and WiSE-FT towards that soup
(u = v = alpha / 2). A grid of accuracy and loss over it shows whether the fine-tunes share a basin.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from wiseft_core.data.datasets import LoadedDataset
from wiseft_core.engine.interpolation import WeightInterpolator
from wiseft_core.errors import WiseftError
from wiseft_core.evaluate import evaluation
from wiseft_core.evaluate.soup_average import soup_state_dict
from wiseft_core.evaluate.state_dict_scorer import StateDictScorer
from wiseft_core.serve.jobs import CancelToken, cancellable

PLANE_FIELDS = ("u", "v", "dataset", "top1", "loss", "n")


def plane_weights(u: float, v: float) -> list[float]:
    """The soup weights of (theta0, theta1, theta2) at plane point (u, v): they sum to 1."""
    return [1.0 - u - v, u, v]


def plane_point(thetas: Sequence[dict[str, torch.Tensor]], u: float, v: float) -> dict[str, torch.Tensor]:
    if len(thetas) != 3:
        raise WiseftError(f"a plane needs three state dicts (theta0, theta1, theta2), got {len(thetas)}")
    return soup_state_dict(thetas, plane_weights(u, v))


def plane_axis(lo: float, hi: float, step: float) -> list[float]:
    """``lo, lo + step, ..., hi`` rounded to 6 places, so 0, 0.5 and 1 appear exactly when on the grid."""
    count = int(round((hi - lo) / step)) + 1
    return [round(lo + k * step, 6) + 0.0 for k in range(count)]


@dataclass(frozen=True)
class PlaneCell:
    u: float
    v: float
    dataset: str
    top1: float
    loss: float
    n: int


def measure_plane(thetas: Sequence[dict[str, torch.Tensor]], scorer: StateDictScorer, us: Sequence[float],
                  vs: Sequence[float], progress: Callable[[int, int], None] | None = None) -> list[PlaneCell]:
    """Top-1 and loss at every (u, v) of the grid on each of the scorer's datasets."""
    cells = []
    total = len(us) * len(vs)
    for k, (v, u) in enumerate((v, u) for v in vs for u in us):
        for spec, s in scorer.score(plane_point(thetas, u, v)).items():
            cells.append(PlaneCell(u, v, spec, s.top1, s.loss, s.n))
        if progress is not None:
            progress(k + 1, total)
    return cells


def plane_cell_count(us: Sequence[float], vs: Sequence[float]) -> int:
    """Grid points of a plane: what a job's size is checked on before any work."""
    return len(us) * len(vs)


@torch.no_grad()
def measure_plane_live(live: Callable[[], AbstractContextManager[WeightInterpolator]], loaded: LoadedDataset,
                       transform: Callable, us: Sequence[float], vs: Sequence[float], batch_size: int = 256,
                       progress: Callable[[int, int], None] | None = None, cancel: CancelToken | None = None,
                       keep_bytes: int = 2 << 30) -> list[PlaneCell]:
    """Top-1 and loss at every (u, v) on one dataset through the engine: ``live()`` lends a live model over the
    three endpoints (theta0, theta1, theta2), leased per batch so a viewer's own mix is never kept waiting long;
    ``cancel`` is checked between batches and layers. Images are preprocessed once while they fit ``keep_bytes``."""
    batches = evaluation.BatchCache(loaded, transform, batch_size, workers=0, limit_bytes=keep_bytes)
    cells = []
    total = plane_cell_count(us, vs)
    for k, (v, u) in enumerate((v, u) for v in vs for u in us):
        weights = tuple(plane_weights(u, v))
        correct = n = 0
        loss = 0.0
        for images, labels in batches:
            if cancel is not None:
                cancel.check()
            with live() as model, cancellable(model.model, cancel):
                if model.weights != weights:
                    model.set_weights(weights)
                logits = model.model(images.to(model.endpoints.device))
            batch_correct, batch_loss = evaluation.score(logits, labels, loaded)
            correct, loss, n = correct + batch_correct, loss + batch_loss, n + len(labels)
        cells.append(PlaneCell(u, v, loaded.spec, evaluation.percent(correct, n), loss / n if n else float("nan"), n))
        if progress is not None:
            progress(k + 1, total)
    return cells


def write_plane_csv(path: str | os.PathLike, cells: Sequence[PlaneCell]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(PLANE_FIELDS)
        for c in cells:
            writer.writerow([c.u, c.v, c.dataset, f"{c.top1:.4f}", f"{c.loss:.6f}", c.n])
    return path


def read_plane_csv(path: str | os.PathLike) -> list[PlaneCell]:
    """The cells of a plane CSV; a wrong header or an unreadable row is one clear error."""
    path = Path(path)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != PLANE_FIELDS:
            raise WiseftError(f"{path.name}: expected the columns {','.join(PLANE_FIELDS)}, "
                              f"got {','.join(reader.fieldnames or [])}")
        try:
            return [PlaneCell(float(r["u"]), float(r["v"]), r["dataset"], float(r["top1"]), float(r["loss"]),
                              int(r["n"])) for r in reader]
        except (TypeError, ValueError) as err:
            raise WiseftError(f"{path.name}, line {reader.line_num}: {err}") from None


def plane_matrix(cells: Sequence[PlaneCell], dataset: str, metric: str) -> tuple[list[float], list[float], np.ndarray]:
    """(us, vs, values[v index, u index]) of one dataset and metric ("top1" or "loss"), NaN where unmeasured."""
    chosen = [c for c in cells if c.dataset == dataset]
    if not chosen:
        raise WiseftError(f"the plane was not measured on {dataset}")
    us, vs = sorted({c.u for c in chosen}), sorted({c.v for c in chosen})
    values = np.full((len(vs), len(us)), np.nan)
    for c in chosen:
        values[vs.index(c.v), us.index(c.u)] = getattr(c, metric)
    return us, vs, values
