"""The landscape between two sets of weights: loss along the straight line, and its barrier.

Linear mode connectivity is why weight averaging works: a fine-tune of a zero-shot model stays in its
basin, so the loss along the line between them never rises above the straight line between the
endpoints' losses; two models trained from different initialisations sit in different basins and the
line between them crosses a ridge. The *barrier height* measures that ridge:

    barrier = max over alpha in [0, 1] of  loss(alpha) - ((1 - alpha) * loss(0) + alpha * loss(1))

(0 when the path is flat or convex; a pair with itself has barrier exactly 0): the *loss barrier above
the linear path*, the default. Frankle et al. (Linear Mode Connectivity and the Lottery Ticket
Hypothesis, 2020) measure error instead, against the *mean* of the endpoints' errors:

    error barrier = max over alpha in [0, 1] of  error(alpha) - (error(0) + error(1)) / 2

(error = 100 - top-1, in percentage points; never negative since alpha = 0 and 1 are on the path).
Both are reported. Alphas outside [0, 1] extrapolate beyond the endpoints and are shown, not counted.
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
    """The loss barrier above the linear path: max over alphas in [0, 1] of loss minus the chord of the ends."""
    alphas, losses = np.asarray(alphas, dtype=np.float64), np.asarray(losses, dtype=np.float64)
    k0, k1, inside = _endpoints(alphas)
    loss0, loss1 = losses[k0], losses[k1]
    chord = loss0 + alphas[inside] * (loss1 - loss0)  # exactly loss0 everywhere when the ends are equal
    return float(max(0.0, np.max(losses[inside] - chord)))


def _endpoints(alphas: np.ndarray) -> tuple[int, int, np.ndarray]:
    """Indices of alpha 0 and 1 and the mask of alphas inside [0, 1]; a path without both ends is an error."""
    ends = [np.flatnonzero(np.isclose(alphas, a, atol=1e-9, rtol=0)) for a in (0.0, 1.0)]
    if any(len(e) == 0 for e in ends):
        raise WiseftError("the barrier needs the loss at alpha 0 and at alpha 1")
    return int(ends[0][0]), int(ends[1][0]), (alphas >= -1e-9) & (alphas <= 1 + 1e-9)


def error_barrier(alphas: Sequence[float], top1: Sequence[float]) -> float:
    """Frankle et al.'s error barrier: max over alphas in [0, 1] of error minus the mean endpoint error (pp)."""
    alphas, error = np.asarray(alphas, dtype=np.float64), 100.0 - np.asarray(top1, dtype=np.float64)
    k0, k1, inside = _endpoints(alphas)
    return float(max(0.0, np.max(error[inside]) - (error[k0] + error[k1]) / 2))


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
        """The loss barrier above the linear path (the default barrier)."""
        return barrier_height(self.alphas, self.losses)

    @property
    def error_barrier(self) -> float:
        """Frankle et al.'s error barrier, in percentage points."""
        return error_barrier(self.alphas, self.top1)

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
    """One row per (path, dataset): endpoint losses, both barriers and the alpha where the loss ridge peaks."""
    rows = []
    for p in paths:
        alphas, losses = np.asarray(p.alphas), np.asarray(p.losses)
        k0, k1 = int(np.argmin(np.abs(alphas))), int(np.argmin(np.abs(alphas - 1)))
        inside = (alphas >= 0) & (alphas <= 1)
        excess = np.where(inside, losses - (losses[k0] + alphas * (losses[k1] - losses[k0])), -np.inf)
        rows.append({"path": p.path, "dataset": p.dataset, "loss at 0": round(float(losses[k0]), 4),
                     "loss at 1": round(float(losses[k1]), 4), "loss barrier": round(p.barrier, 4),
                     "at alpha": float(alphas[int(np.argmax(excess))]),
                     "error barrier (pp)": round(p.error_barrier, 4)})
    return rows
