"""A small shared pool of live models, leased one at a time, so a room costs O(1) model copies.

Each ``WeightInterpolator`` owns a full copy of the classifier's weights. Giving every viewer its
own costs one copy per viewer (30 viewers of a ViT-L/14: ~36 GB). Most slider positions are served
from the shared alpha grid and need no live model at all; the few that do (off-grid or per-block
alpha) lease one of at most ``size`` models for one ``set_alpha`` + forward and give it back, so the
weights a viewer's forward reads are never rewritten by another viewer meanwhile. Background work (the
grids that fill in the charts) leases with ``background=True`` and waits while a viewer's lease is
active or has just ended, so on a small CPU it never slows a viewer's answer or its paint.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from wiseft_core.engine.blocks import BlockAlphas
from wiseft_core.engine.interpolation import WeightInterpolator


class InterpolatorPool:
    """At most ``size`` live models, made on first need; ``lease()`` blocks until one is free."""

    def __init__(self, make: Callable[[], WeightInterpolator], size: int = 2, background_grace_s: float = 0.5) -> None:
        if size < 1:
            raise ValueError("a pool needs at least one live model")
        self._make = make
        self.size = size
        self.background_grace_s = background_grace_s  # after a viewer's lease: time for its answer to be painted
        self._viewers = 0  # viewers' leases active or waiting
        self._quiet_at = 0.0  # background leases start no earlier (time.monotonic)
        self._free: list[WeightInterpolator] = []
        self._parked: WeightInterpolator | None = None  # the model a viewer returned last (still at its alpha)
        self._created = 0
        self._building = 0  # one model built at a time: waiting for it beats building a second one
        self._available = threading.Condition()

    @property
    def created(self) -> int:
        """How many live models exist (never more than ``size``)."""
        return self._created

    def warm(self, count: int = 1, alpha: float | None = None) -> None:
        """Make up to ``count`` live models now (building a large model takes seconds: not on a first answer).

        With ``alpha`` (the app's default) they are also moved there, so a first image at that alpha
        costs one forward.
        """
        ready = []
        for _ in range(min(count, self.size)):
            with self._available:
                if self._created >= min(count, self.size) or self._free:
                    break
            with self.lease() as model:
                if alpha is not None:
                    model.set_alpha(alpha)
                ready.append(model)

    @contextmanager
    def lease(self, background: bool = False, at: tuple[float, BlockAlphas] | None = None,
              stop: Callable[[], None] | None = None) -> Iterator[WeightInterpolator]:
        """Exclusive use of one live model for the ``with`` block; a background lease yields to viewers.

        ``at`` (alpha, block alphas) asks for a free model already there, so its ``set_alpha`` can be
        skipped. Background leases leave the model a viewer returned last where it is (building another
        one while the pool has room), so the next viewer at the same alpha, typically the same viewer
        with a new image, pays one forward and no ``set_alpha``. ``stop()`` is called while waiting and may
        raise (a cancelled job stops waiting for a model).
        """
        model = self._take(background, at, stop)
        if model is None:
            try:
                model = self._make()
            except BaseException:
                with self._available:
                    self._created -= 1
                    self._building -= 1
                    self._viewer_done(background)
                    self._available.notify_all()
                raise
            with self._available:
                self._building -= 1
                self._available.notify_all()
        try:
            yield model
        finally:
            with self._available:
                self._free.append(model)
                if not background:
                    self._parked = model
                self._viewer_done(background)
                self._available.notify_all()

    def _take(self, background: bool, at: tuple[float, BlockAlphas] | None,
              stop: Callable[[], None] | None) -> WeightInterpolator | None:
        """A free model for this lease, or None with a slot reserved for building one."""
        poll = 1e9 if stop is None else 0.1
        with self._available:
            if background:
                while self._viewers or time.monotonic() < self._quiet_at:
                    if stop is not None:
                        stop()
                    self._available.wait(timeout=max(0.01, min(poll, self._quiet_at - time.monotonic())))
            else:
                self._viewers += 1
            try:
                while not self._choosable(background) and (self._created >= self.size or self._building):
                    if stop is not None:
                        stop()
                    self._available.wait(timeout=None if stop is None else poll)
            except BaseException:
                self._viewer_done(background)
                self._available.notify_all()
                raise
            choosable = self._choosable(background)
            if choosable:
                model = self._pick(choosable, background, at)
                self._free.remove(model)
                return model
            self._created += 1
            self._building += 1
            return None

    @contextmanager
    def at(self, alpha: float, background: bool = False, stop: Callable[[], None] | None = None
           ) -> Iterator[WeightInterpolator]:
        """A leased live model already at ``alpha`` (global alpha, no per-block ones): ``set_alpha`` only if needed.

        Long computations (flips, landscape, saliency) lease once per batch with ``background=True``: a
        viewer's slider comes first, and the model is moved only when someone else moved it meanwhile.
        ``stop`` (e.g. a job's ``token.check``) may end the wait for a model.
        """
        with self.lease(background=background, at=(alpha, ()), stop=stop) as model:
            if not model.is_at(alpha):
                model.set_alpha(alpha)
            yield model

    def _choosable(self, background: bool) -> list[WeightInterpolator]:
        """Free models this lease may take.

        Background work spares the last viewer's model: it takes it only when the pool is full and no other
        model is free; with room it builds another.
        """
        if not background:
            return self._free
        others = [model for model in self._free if model is not self._parked]
        if others or (self._created < self.size and not self._building):
            return others
        return self._free

    def _pick(self, choosable: list[WeightInterpolator], background: bool,
              at: tuple[float, BlockAlphas] | None) -> WeightInterpolator:
        if at is not None:
            for model in reversed(choosable):
                if model.is_at(*at):
                    return model
        return choosable[0] if background else choosable[-1]

    def _viewer_done(self, background: bool) -> None:
        if not background:
            self._viewers -= 1
            self._quiet_at = time.monotonic() + self.background_grace_s
