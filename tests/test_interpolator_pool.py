"""The pool of live models: exclusive leases, at most ``size`` models, viewers before background work."""

from __future__ import annotations

import threading
import time

import pytest

from wiseft_core.serve.interpolator_pool import InterpolatorPool


class Model:
    pass


def test_leases_are_exclusive_and_never_exceed_the_pools_size():
    pool = InterpolatorPool(Model, size=2)
    held = []
    with pool.lease() as a, pool.lease() as b:
        held += [a, b]
        assert a is not b and pool.created == 2
    with pool.lease() as c:
        assert c in held and pool.created == 2
    with pytest.raises(ValueError):
        InterpolatorPool(Model, size=0)


def test_a_background_lease_waits_for_a_viewers_lease_and_its_grace_time():
    pool = InterpolatorPool(Model, size=2, background_grace_s=0.6)
    events = []

    def background():
        with pool.lease(background=True):
            events.append(("background", time.monotonic()))

    with pool.lease():  # a viewer's forward; a model is free, yet the background work must wait
        worker = threading.Thread(target=background)
        worker.start()
        time.sleep(0.3)
        assert events == []
        released = time.monotonic()
    worker.join(timeout=10)
    assert events and events[0][1] - released >= 0.6  # the answer's paint gets the grace time


def test_a_background_lease_alone_starts_at_once():
    pool = InterpolatorPool(Model, size=1, background_grace_s=5.0)
    start = time.monotonic()
    with pool.lease(background=True):
        pass
    assert time.monotonic() - start < 1.0  # no viewer has leased yet: no grace to wait for


class Parked:
    """A stand-in live model that only knows which alpha its weights are at."""

    def __init__(self):
        self.alpha, self.block_alphas = None, ()

    def is_at(self, alpha, block_alphas=()):
        return self.alpha == alpha and self.block_alphas == tuple(block_alphas)


def test_a_viewer_gets_the_free_model_already_at_its_alpha_and_background_work_spares_it():
    pool = InterpolatorPool(Parked, size=2, background_grace_s=0.0)
    with pool.lease(at=(0.5, ())) as viewer:
        viewer.alpha = 0.5
    for _ in range(3):  # the grid filler, again and again: it builds the second model, then keeps to it
        with pool.lease(background=True) as filler:
            assert filler is not viewer
            filler.alpha = 0.1
    assert pool.created == 2
    with pool.lease(at=(0.5, ())) as again:
        assert again is viewer
    with pool.lease(at=(0.1, ())) as other:
        assert other is filler
    with pool.lease(at=(0.7, ())) as anyone:  # nobody there: any free model
        assert anyone in (viewer, filler)


def test_with_a_full_pool_background_work_still_takes_the_model_the_last_viewer_did_not_leave():
    pool = InterpolatorPool(Parked, size=2, background_grace_s=0.0)
    with pool.lease() as first, pool.lease() as last:
        first.alpha, last.alpha = 0.3, 0.5
    # ``last`` was returned first, ``first`` last: ``first`` is parked at 0.3, whatever the free list's order
    for _ in range(3):
        with pool.lease(background=True) as filler:
            assert filler is last
    with pool.lease(at=(0.3, ())) as viewer:
        assert viewer is first


def test_with_one_model_background_work_still_gets_it():
    pool = InterpolatorPool(Parked, size=1, background_grace_s=0.0)
    with pool.lease() as viewer:
        viewer.alpha = 0.5
    with pool.lease(background=True) as filler:
        assert filler is viewer and pool.created == 1


def test_warming_builds_the_first_model_at_the_default_alpha_for_the_first_viewer():
    moved = []

    class Live(Parked):
        def set_alpha(self, alpha, block_alphas=()):
            moved.append(alpha)
            self.alpha = alpha

    pool = InterpolatorPool(Live, size=2)
    pool.warm(1, alpha=0.5)
    assert pool.created == 1 and moved == [0.5]
    with pool.lease(at=(0.5, ())) as viewer:
        assert viewer.is_at(0.5)


def test_a_cancelled_job_stops_waiting_for_a_model_and_leaves_the_pool_as_it_was():
    from wiseft_core.serve.jobs import Cancelled, CancelToken

    pool = InterpolatorPool(Model, size=1, background_grace_s=0.0)
    token = CancelToken()
    outcome = []

    def job():
        try:
            with pool.lease(background=True, stop=token.check):
                outcome.append("leased")
        except Cancelled as err:
            outcome.append(str(err))

    with pool.lease():  # a viewer holds the only model: the job waits
        waiting = threading.Thread(target=job)
        waiting.start()
        time.sleep(0.2)
        token.cancel("the session ended")
        waiting.join(timeout=10)
        assert outcome == ["the session ended"]
    with pool.lease(stop=token.check):  # a free model: no wait, so no stop check
        with pytest.raises(Cancelled), pool.lease(stop=token.check):  # none free: the wait stops at once
            pass
        assert pool._viewers == 1 and pool.created == 1  # the failed lease is not counted
    assert pool._viewers == 0
