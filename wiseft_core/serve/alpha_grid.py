"""Predictions across a fixed alpha grid, and the one policy that answers "logits at this alpha".

The Playground draws probability-vs-alpha for each image: 21 real interpolations and forwards,
computed once per (pair, image) and shared by every viewer. Every slider position inside [0, 1]
is a grid point, so moving the slider there is a lookup (the browser even draws it from the grid
it was sent); extrapolated or per-block alphas take the live path (``set_alpha`` + one forward on a
model leased from a small shared pool). Output-space ensembles mix the endpoint logits.
``logits_at`` is that policy, in one place; a grid fills progressively (``FILL_ORDER``: endpoints,
middle, quarters, ...) so a new image's chart takes shape at once and sharpens.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import torch

from wiseft_core.engine.interpolation import WeightInterpolator, ensemble_outputs
from wiseft_core.engine.predict import predict_logits
from wiseft_core.serve.interpolator_pool import InterpolatorPool
from wiseft_core.serve.shutdown import JOIN_TIMEOUT_S, stop_at_exit
from wiseft_core.serve.timer import timed

ALPHA_GRID: tuple[float, ...] = tuple(round(i * 0.05, 2) for i in range(21))


def forward_logits(model: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """Logits on the model's device (batch from ``predict.to_batch``), returned on the CPU in fp32."""
    device = next(model.parameters()).device
    return predict_logits(model, batch.to(device)).cpu()


def grid_index(alpha: float, alphas: Sequence[float] = ALPHA_GRID) -> int | None:
    """Index of ``alpha`` on the grid (to 1e-6), or None when it needs a live interpolation."""
    for i, a in enumerate(alphas):
        if abs(a - alpha) < 1e-6:
            return i
    return None


@dataclass
class AlphaGrid:
    """Logits of each image at each grid alpha: ``logits[a, i, c]`` for alpha ``alphas[a]``, image ``i``."""

    alphas: tuple[float, ...]
    logits: torch.Tensor

    def probs(self) -> torch.Tensor:
        return self.logits.softmax(dim=-1)

    def weight_space_logits(self, alpha: float) -> torch.Tensor | None:
        """Cached logits at a grid alpha, or None off the grid."""
        index = grid_index(alpha, self.alphas)
        return None if index is None else self.logits[index]

    def output_space_logits(self, alpha: float) -> torch.Tensor:
        """Output-space ensemble at any alpha from the cached endpoints (alpha 0 and 1 must be on the grid)."""
        return ensemble_outputs(self.logits[grid_index(0.0, self.alphas)],
                                self.logits[grid_index(1.0, self.alphas)], alpha)

    def output_space_probs_over_grid(self) -> torch.Tensor:
        return torch.stack([self.output_space_logits(a) for a in self.alphas]).softmax(dim=-1)


def compute_alpha_grid(
    interpolator: WeightInterpolator, batch: torch.Tensor, alphas: Sequence[float] = ALPHA_GRID
) -> AlphaGrid:
    """Interpolate to each grid alpha and run the whole image batch once per alpha (21 forwards).

    Leaves the interpolator at the last grid alpha; callers that keep a "current alpha" must set
    it again afterwards.
    """
    rows = []
    for alpha in alphas:
        interpolator.set_alpha(alpha)
        rows.append(forward_logits(interpolator.model, batch))
    return AlphaGrid(alphas=tuple(alphas), logits=torch.stack(rows))


def live_weight_space_logits(
    interpolator: WeightInterpolator, batch: torch.Tensor, alpha: float,
    block_alphas: Sequence[tuple[str, float]] = (),
) -> torch.Tensor:
    """The slider's uncached path: rewrite the live weights to ``alpha`` (unless already there) and run one forward."""
    if not interpolator.is_at(alpha, block_alphas):
        interpolator.set_alpha(alpha, block_alphas)
    return forward_logits(interpolator.model, batch)


def output_space_logits(zeroshot: torch.nn.Module, finetuned: torch.nn.Module, batch: torch.Tensor,
                        alpha: float) -> torch.Tensor:
    """Output-space ensemble from scratch: two forwards, then mix the logits (what the app times)."""
    return ensemble_outputs(forward_logits(zeroshot, batch), forward_logits(finetuned, batch), alpha)


def _fill_order(n: int) -> tuple[int, ...]:
    """Grid indices breadth-first by bisection: both ends, the middle, the quarters, ... then the rest."""
    order, seen, spans = [0, n - 1], {0, n - 1}, [(0, n - 1)]
    while spans:
        next_spans = []
        for lo, hi in spans:
            mid = (lo + hi) // 2
            if mid not in seen:
                order.append(mid)
                seen.add(mid)
            if mid - lo > 1:
                next_spans.append((lo, mid))
            if hi - mid > 1:
                next_spans.append((mid, hi))
        spans = next_spans
    return tuple(order + [i for i in range(n) if i not in seen])


FILL_ORDER: tuple[int, ...] = _fill_order(len(ALPHA_GRID))


class PartialGrid:
    """One image's grid logits, filled row by row (shared by sessions and the filler, so locked)."""

    def __init__(self, classes: int, alphas: Sequence[float] = ALPHA_GRID) -> None:
        self.alphas = tuple(alphas)
        self.logits = torch.zeros(len(self.alphas), classes)
        self.filled = [False] * len(self.alphas)
        self._lock = threading.Lock()

    @property
    def complete(self) -> bool:
        return all(self.filled)

    def row(self, alpha: float) -> torch.Tensor | None:
        index = grid_index(alpha, self.alphas)
        with self._lock:
            return None if index is None or not self.filled[index] else self.logits[index].clone()

    def put(self, alpha: float, logits: torch.Tensor) -> None:
        index = grid_index(alpha, self.alphas)
        if index is not None:
            with self._lock:
                self.logits[index] = logits
                self.filled[index] = True

    def missing(self) -> list[float]:
        """Grid alphas still to compute, in ``FILL_ORDER``."""
        with self._lock:
            return [self.alphas[i] for i in FILL_ORDER if i < len(self.alphas) and not self.filled[i]]

    def snapshot(self) -> tuple[torch.Tensor, list[bool]]:
        with self._lock:
            return self.logits.clone(), list(self.filled)


def fill_step(pool: InterpolatorPool, image: torch.Tensor, grid: PartialGrid) -> bool:
    """Compute the next missing grid row of one image (``image``: a batch of 1); False when complete."""
    missing = grid.missing()
    if not missing:
        return False
    alpha = missing[0]
    with pool.lease(background=True) as interpolator:
        grid.put(alpha, live_weight_space_logits(interpolator, image, alpha)[0])
    return True


@dataclass
class Prediction:
    """Logits ``[images, classes]`` at one alpha, and whether they needed a live forward."""

    logits: torch.Tensor
    live: bool

    @property
    def finite(self) -> bool:
        return bool(torch.isfinite(self.logits).all())


def logits_at(pool: InterpolatorPool, endpoints: tuple[torch.nn.Module, torch.nn.Module], batch: torch.Tensor,
              grids: Sequence[PartialGrid], alpha: float, mode: str = "weights",
              block_alphas: Sequence[tuple[str, float]] = ()) -> Prediction:
    """The app's one grid-or-live policy: logits of ``batch`` (one grid per image) at ``alpha``.

    weights: a filled grid row when alpha is on the grid and no block alpha is set; otherwise one
    live ``set_alpha`` + forward on a leased model (a grid alpha computed live fills the grids).
    outputs: the endpoints' logits (from the grids, else the shared endpoint models) mixed at alpha.
    """
    if mode == "outputs":
        ends = []
        for side, end_alpha in enumerate((0.0, 1.0)):
            rows = [g.row(end_alpha) for g in grids]
            if any(r is None for r in rows):
                ends.append(forward_logits(endpoints[side], batch))
            else:
                ends.append(torch.stack(rows))
        return Prediction(ensemble_outputs(ends[0], ends[1], alpha), live=False)
    if mode != "weights":
        raise ValueError(f"unknown ensemble mode {mode!r} (weights or outputs)")
    if not block_alphas:
        rows = [g.row(alpha) for g in grids]
        if rows and all(r is not None for r in rows):
            return Prediction(torch.stack(rows), live=False)
    with pool.lease(at=(alpha, tuple(block_alphas))) as interpolator:
        logits = live_weight_space_logits(interpolator, batch, alpha, block_alphas)
    if not block_alphas:
        for i, grid in enumerate(grids):
            grid.put(alpha, logits[i])
    return Prediction(logits, live=True)


class GridStore:
    """Grids shared by every session, keyed by (pair, image content); the least recently used go first."""

    def __init__(self, max_images: int = 256) -> None:
        self.max_images = max_images
        self._grids: OrderedDict[Hashable, PartialGrid] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, classes: int) -> PartialGrid:
        with self._lock:
            grid = self._grids.get(key)
            if grid is None:
                grid = self._grids[key] = PartialGrid(classes)
            self._grids.move_to_end(key)
            while len(self._grids) > self.max_images:
                self._grids.popitem(last=False)
            return grid


class GridFiller:
    """One background thread completing grids a row at a time, the most recently requested image first.

    Filling in the background keeps every script run short: a new image's first answer is one
    forward, its chart fills in while the slider stays usable, and its leases are background ones:
    they wait while a viewer's forward runs or its answer is being painted.
    """

    def __init__(self) -> None:
        self._jobs: deque[tuple[InterpolatorPool, torch.Tensor, PartialGrid]] = deque()
        self._queued: set[int] = set()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        stop_at_exit(self.stop)

    def stop(self) -> None:
        """Finish the row being computed and end the thread (at exit: see ``serve/shutdown.py``)."""
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(JOIN_TIMEOUT_S)

    def request(self, pool: InterpolatorPool, image: torch.Tensor, grid: PartialGrid) -> None:
        """Complete ``grid`` for ``image`` (a batch of 1) in the background; repeated requests are free."""
        if grid.complete:
            return
        with self._wake:
            if id(grid) in self._queued or self._stopping:
                return
            self._queued.add(id(grid))
            self._jobs.append((pool, image, grid))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="wiseft-grid-filler", daemon=True)
                self._thread.start()
            self._wake.notify()

    def idle(self) -> bool:
        with self._wake:
            return not self._jobs

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._jobs and not self._stopping:
                    self._wake.wait()
                if self._stopping:
                    return
                pool, image, grid = self._jobs.pop()  # newest first
            try:
                more = fill_step(pool, image, grid)
            except Exception:  # a grid that cannot be filled is left partial; live path still works
                more = False
            with self._wake:
                if more:
                    self._jobs.append((pool, image, grid))
                else:
                    self._queued.discard(id(grid))


def ensemble_timings(pool: InterpolatorPool, endpoints: tuple[torch.nn.Module, torch.nn.Module],
                     batch: torch.Tensor) -> dict[str, float]:
    """Milliseconds per prediction of each ensemble (best of 3): one set_alpha + forward vs two forwards.

    The leased live model is put back at the alpha it had, so the next viewer there skips its set_alpha.
    """
    with pool.lease() as interpolator:
        parked = interpolator.alpha, interpolator.block_alphas
        alphas = iter((0.37, 0.38, 0.39))  # a new alpha each time: set_alpha is part of what is timed
        _, weights_ms = timed(lambda: live_weight_space_logits(interpolator, batch, next(alphas)), repeats=3)
        if parked[0] is not None:
            interpolator.set_alpha(*parked)
    _, outputs_ms = timed(lambda: output_space_logits(*endpoints, batch, 0.37), repeats=3)
    return {"weights": weights_ms, "outputs": outputs_ms}
