"""The landscape between two sets of weights: loss along the straight line, and its barrier.

Linear mode connectivity is why weight averaging works: a fine-tune of a zero-shot model stays in its
basin, so the loss along the line between them never rises above the straight line between the
endpoints' losses; two models trained from different initialisations sit in different basins and the
line between them crosses a ridge. The *barrier height* measures that ridge:

    barrier = max over alpha in [0, 1] of  loss(alpha) - ((1 - alpha) * loss(0) + alpha * loss(1))

(0 when the path is flat or convex; a pair with itself has barrier exactly 0). Alphas outside [0, 1]
extrapolate beyond the endpoints and are shown, not counted in the barrier.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wiseft_core.data.datasets import LoadedDataset
from wiseft_core.engine.pair import ClassifierPair
from wiseft_core.errors import WiseftError
from wiseft_core.inspection.along_alpha import AlongAlpha, along_alpha

CSV_FIELDS = ("path", "dataset", "alpha", "loss", "top1", "n")


def barrier_height(alphas: Sequence[float], losses: Sequence[float]) -> float:
    """Max over the measured alphas in [0, 1] of loss minus the chord between loss(0) and loss(1)."""
    alphas, losses = np.asarray(alphas, dtype=np.float64), np.asarray(losses, dtype=np.float64)
    ends = [np.flatnonzero(np.isclose(alphas, a, atol=1e-9, rtol=0)) for a in (0.0, 1.0)]
    if any(len(e) == 0 for e in ends):
        raise WiseftError("the barrier needs the loss at alpha 0 and at alpha 1")
    loss0, loss1 = losses[ends[0][0]], losses[ends[1][0]]
    inside = (alphas >= -1e-9) & (alphas <= 1 + 1e-9)
    chord = loss0 + alphas[inside] * (loss1 - loss0)  # exactly loss0 everywhere when the ends are equal
    return float(max(0.0, np.max(losses[inside] - chord)))


@dataclass
class LandscapePath:
    """Loss and accuracy along one path on one dataset."""

    path: str
    dataset: str
    alphas: list[float]
    losses: list[float]
    top1: list[float]
    n: int

    @property
    def barrier(self) -> float:
        return barrier_height(self.alphas, self.losses)

    @classmethod
    def of(cls, path: str, result: AlongAlpha) -> LandscapePath:
        return cls(path, result.spec, list(result.alphas), [float(v) for v in result.losses],
                   [float(v) for v in result.top1], result.n)

    def rows(self) -> list[dict]:
        return [{"path": self.path, "dataset": self.dataset, "alpha": a, "loss": f"{loss:.6f}",
                 "top1": f"{acc:.4f}", "n": self.n}
                for a, loss, acc in zip(self.alphas, self.losses, self.top1, strict=True)]


def measure_path(name: str, pair: ClassifierPair, datasets: Sequence[LoadedDataset], alphas: Sequence[float],
                 batch_size: int = 256, progress: Callable[[int, int], None] | None = None,
                 **along: Any) -> list[LandscapePath]:
    """Weight-space loss and top-1 along ``pair``'s line on every dataset (0 and 1 always included).

    ``along`` goes to :func:`along_alpha` (a served app passes its pool's ``live`` models and a ``cancel`` token).
    """
    alphas = sorted(set(round(float(a), 6) for a in alphas) | {0.0, 1.0})
    return [LandscapePath.of(name, along_alpha(pair, loaded, alphas, ("weights",), batch_size, progress=progress,
                                               **along)[0])
            for loaded in datasets]


def write_csv(path: str | os.PathLike, paths: Sequence[LandscapePath]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for p in paths:
            writer.writerows(p.rows())
    os.replace(temporary, path)
    return path


def read_csv(path: str | os.PathLike) -> list[LandscapePath]:
    """The paths of a landscape CSV, in file order; a foreign CSV is a clear error."""
    try:
        with Path(path).open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = set(CSV_FIELDS) - set(reader.fieldnames or [])
            if missing:
                raise WiseftError(f"{path}: not a landscape CSV (missing columns {', '.join(sorted(missing))})")
            grouped: dict[tuple[str, str], LandscapePath] = {}
            for row in reader:
                key = (row["path"], row["dataset"])
                entry = grouped.setdefault(key, LandscapePath(row["path"], row["dataset"], [], [], [], int(row["n"])))
                entry.alphas.append(float(row["alpha"]))
                entry.losses.append(float(row["loss"]))
                entry.top1.append(float(row["top1"]))
    except OSError as err:
        raise WiseftError(f"cannot read landscape CSV {path}: {err}") from None
    except ValueError as err:
        raise WiseftError(f"{path}: malformed landscape CSV ({err})") from None
    return list(grouped.values())


def barrier_table(paths: Sequence[LandscapePath]) -> list[dict]:
    """One row per (path, dataset): endpoint losses, the barrier and the alpha where the ridge peaks."""
    rows = []
    for p in paths:
        alphas, losses = np.asarray(p.alphas), np.asarray(p.losses)
        k0, k1 = int(np.argmin(np.abs(alphas))), int(np.argmin(np.abs(alphas - 1)))
        inside = (alphas >= 0) & (alphas <= 1)
        excess = np.where(inside, losses - (losses[k0] + alphas * (losses[k1] - losses[k0])), -np.inf)
        rows.append({"path": p.path, "dataset": p.dataset, "loss at 0": round(float(losses[k0]), 4),
                     "loss at 1": round(float(losses[k1]), 4), "barrier": round(p.barrier, 4),
                     "at alpha": float(alphas[int(np.argmax(excess))])})
    return rows
