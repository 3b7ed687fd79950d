"""The room's job queue: one job per session, places in line, cancellation, workers, one-line errors."""

from __future__ import annotations

import threading

import pytest
import torch
from torch import nn

from wiseft_core.errors import WiseftError
from wiseft_core.serve.jobs import (
    CANCELLED,
    DONE,
    FAILED,
    QUEUED,
    RUNNING,
    Cancelled,
    CancelToken,
    JobQueue,
    JobRefused,
    Kept,
    cancellable,
    describe,
    ordinal,
    with_grace,
)

HANG_GUARD_S = 30  # only so a broken queue fails instead of hanging; no test measures time


def blocker():
    """A job that runs until released (or cancelled), checking its token between small steps."""
    release, started = threading.Event(), threading.Event()
    steps = []

    def work(job):
        started.set()
        while not release.wait(0.005):
            job.token.check()
            steps.append(1)
        return "released"

    return work, release, started, steps


def finished(job) -> bool:
    for _ in range(HANG_GUARD_S * 100):
        if job.finished:
            return True
        threading.Event().wait(0.01)
    return False


def test_a_sessions_second_job_replaces_its_first():
    queue = JobQueue(workers=1)
    work, release, started, _ = blocker()
    first = queue.submit("A", "Flips", work)
    assert started.wait(HANG_GUARD_S)
    second = queue.submit("A", "Flips", lambda job: 42)
    assert finished(first) and first.state == CANCELLED and "replaced" in first.error
    assert finished(second) and second.state == DONE and second.result == 42
    assert queue.job("A") is second
    release.set()


def test_waiting_jobs_hold_fifo_places_and_the_page_says_which():
    queue = JobQueue(workers=1)
    work, release, started, _ = blocker()
    running = queue.submit("A", "Flips", work)
    assert started.wait(HANG_GUARD_S)
    order = []
    waiting = [queue.submit(session, "Landscape", lambda job, s=session: order.append(s) or s) for session in "BCD"]
    assert running.state == RUNNING and queue.position(running) == 0
    assert [queue.position(job) for job in waiting] == [1, 2, 3]
    assert describe(waiting[2], queue.position(waiting[2])) == "The room is busy: you are 3rd in line for Landscape."
    queue.end_session("C")  # a closed tab gives its place up
    assert [queue.position(job) for job in waiting] == [1, 0, 2] and waiting[1].state == CANCELLED
    release.set()
    assert queue.wait_idle(HANG_GUARD_S) and [job.result for job in waiting] == ["B", None, "D"]
    assert order == ["B", "D"]  # first come, first served


def test_ordinals_read_as_english():
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st", "111th"]


def test_a_cancelled_job_stops_at_its_next_check_and_the_worker_goes_idle():
    queue = JobQueue(workers=1)
    work, release, started, steps = blocker()
    job = queue.submit("A", "Flips", work)
    assert started.wait(HANG_GUARD_S)
    queue.cancel("A", "cancelled by you")
    assert queue.wait_idle(HANG_GUARD_S) and job.state == CANCELLED and job.error == "cancelled by you"
    after = len(steps)
    threading.Event().wait(0.1)
    assert len(steps) == after  # no step ran after the cancel was seen


def test_a_job_whose_session_disconnected_is_cancelled_by_its_own_token():
    connected = [True]
    queue = JobQueue(workers=1)
    work, release, started, _ = blocker()
    job = queue.submit("A", "Flips", work, alive=lambda: connected[0])
    assert started.wait(HANG_GUARD_S)
    connected[0] = False
    assert queue.wait_idle(HANG_GUARD_S) and job.state == CANCELLED and job.error == "the session ended"


def test_a_disconnection_counts_only_once_it_has_lasted_the_grace_period():
    connected, now = [True], [100.0]
    alive = with_grace(lambda: connected[0], grace_s=15.0, clock=lambda: now[0])
    assert alive()
    connected[0] = False  # a phone locks its screen
    assert alive()
    now[0] += 14.9
    assert alive()
    connected[0] = True  # ... and reconnects: the clock starts again at the next drop
    assert alive()
    connected[0] = False
    now[0] += 10.0
    assert alive()
    now[0] += 15.0  # gone for good
    assert not alive()


def test_no_more_jobs_run_at_once_than_there_are_workers():
    queue = JobQueue(workers=2)
    lock, now, peak = threading.Lock(), [0], [0]
    gate = threading.Barrier(2, timeout=HANG_GUARD_S)

    def work(job):
        with lock:
            now[0] += 1
            peak[0] = max(peak[0], now[0])
        gate.wait()  # the two workers overlap for sure
        with lock:
            now[0] -= 1

    jobs = [queue.submit(f"S{i}", "Landscape", work) for i in range(6)]
    assert queue.wait_idle(HANG_GUARD_S) and all(job.state == DONE for job in jobs)
    assert peak[0] == 2
    with pytest.raises(ValueError):
        JobQueue(workers=0)


def test_exceptions_become_one_line_errors_and_the_worker_survives():
    queue = JobQueue(workers=1)

    def library_error(job):
        raise WiseftError("broken.csv: row 2: no such image\n(and more)")

    def bug(job):
        raise RuntimeError("internal detail /srv/secret/path\nTraceback line")

    jobs = [queue.submit("A", "Flips", library_error), queue.submit("B", "Landscape", bug),
            queue.submit("C", "Flips", lambda job: "fine")]
    assert queue.wait_idle(HANG_GUARD_S)
    assert [job.state for job in jobs] == [FAILED, FAILED, DONE]
    assert jobs[0].error == "broken.csv: row 2: no such image"
    assert jobs[1].error == "Landscape failed (RuntimeError); the server log has the details"
    assert all("\n" not in job.error for job in jobs[:2])


def test_a_kept_result_is_handed_to_the_next_session_without_computing_again():
    queue = JobQueue(workers=1)
    runs = []
    first = queue.submit("A", "Flips", lambda job: runs.append(1) or "result", key=("flips", "pair", "demo:sketch"))
    assert queue.wait_idle(HANG_GUARD_S)
    second = queue.submit("B", "Flips", lambda job: runs.append(1) or "again", key=("flips", "pair", "demo:sketch"))
    assert second.state == DONE and second.result == first.result == "result" and runs == [1]
    unkept = queue.submit("C", "Saliency", lambda job: "frames", key=("filmstrip", 1), keep=False)
    assert queue.wait_idle(HANG_GUARD_S)
    again = queue.submit("D", "Saliency", lambda job: "new frames", key=("filmstrip", 1), keep=False)
    assert queue.wait_idle(HANG_GUARD_S) and (unkept.result, again.result) == ("frames", "new frames")


def test_the_line_is_bounded_and_a_refusal_is_one_line():
    queue = JobQueue(workers=1, max_waiting=2)
    work, release, started, _ = blocker()
    queue.submit("A", "Flips", work)
    assert started.wait(HANG_GUARD_S)
    queue.submit("B", "Flips", lambda job: 1)
    queue.submit("C", "Flips", lambda job: 2)
    with pytest.raises(JobRefused, match="2 computations are waiting") as refused:
        queue.submit("D", "Flips", lambda job: 3)
    assert "\n" not in str(refused.value) and queue.job("D") is None
    assert queue.job("B").state == QUEUED
    release.set()


def test_progress_reports_are_clamped_and_are_places_to_stop():
    queue = JobQueue(workers=1)
    seen = []

    def work(job):
        job.report(1.5, "pass 3 of 2")
        seen.append((job.fraction, job.text))
        job.token.cancel("cancelled by you")
        job.report(0.5, "never shown")
        seen.append("after")

    job = queue.submit("A", "Flips", work)
    assert queue.wait_idle(HANG_GUARD_S) and job.state == CANCELLED
    assert seen == [(1.0, "pass 3 of 2")]


def test_cancellable_stops_a_forward_between_layers_in_its_own_thread_only():
    token = CancelToken()
    ran = []

    class Layer(nn.Module):
        def __init__(self, name, cancel=False):
            super().__init__()
            self.name, self.cancel = name, cancel

        def forward(self, x):
            ran.append(self.name)
            if self.cancel:
                token.cancel("stop")
            return x

    model = nn.Sequential(Layer("a"), Layer("b", cancel=True), Layer("c"))
    with cancellable(model, token), pytest.raises(Cancelled, match="stop"):
        model(torch.zeros(1))
    assert ran == ["a", "b"]
    ran.clear()
    with cancellable(model, token):  # another thread's forward on the same (shared) model is not stopped
        other = threading.Thread(target=model, args=(torch.zeros(1),))
        other.start()
        other.join(HANG_GUARD_S)
    assert ran == ["a", "b", "c"]
    model(torch.zeros(1))  # the hooks are gone after the block
    assert not any(m._forward_pre_hooks for m in model.modules())


def test_kept_results_drop_the_oldest_first():
    kept = Kept(2)
    kept.put("a", 1)
    kept.put("b", 2)
    assert kept.get("a") == 1  # now the newest
    kept.put("c", 3)
    assert ("a" in kept, "b" in kept, "c" in kept) == (True, False, True)
