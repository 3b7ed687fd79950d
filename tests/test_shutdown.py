"""Background model work is stopped and joined at exit, so a process never aborts while a thread is in PyTorch."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

from wiseft_core.serve import shutdown
from wiseft_core.serve.alpha_grid import GridFiller
from wiseft_core.serve.jobs import JobQueue


def test_a_grid_filler_stops_and_its_thread_ends():
    filler = GridFiller()
    filler._thread = threading.Thread(target=filler._run, daemon=True)
    filler._thread.start()
    filler.stop()
    assert not filler._thread.is_alive()


def test_a_job_queue_shuts_down_and_its_workers_end():
    queue = JobQueue(workers=2)
    queue.shutdown()
    assert not any(thread.is_alive() for thread in queue._threads)


def test_a_stop_registered_by_a_bound_method_does_not_keep_its_object_alive(monkeypatch):
    import gc
    import weakref

    monkeypatch.setattr(shutdown, "_stops", [])  # this process's own stops (the app's queue, fillers) stay registered
    queue = JobQueue(workers=1)
    ref = weakref.ref(queue)
    queue.shutdown()
    del queue
    gc.collect()
    assert ref() is None
    assert len(shutdown._stops) == 1
    shutdown._stop_all()  # the dead entry is skipped


def test_a_process_whose_daemon_thread_is_inside_torch_at_exit_exits_cleanly():
    """Without the stop at exit this aborts with status 134 ("terminate called without an active exception")."""
    script = textwrap.dedent("""
        import threading, time, torch
        from wiseft_core.serve.shutdown import stop_at_exit
        stop = threading.Event()
        def work():
            x = torch.randn(256, 256)
            while not stop.is_set():
                torch.cat([x @ x for _ in range(4)])
        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        stop_at_exit(lambda: (stop.set(), thread.join()))
        time.sleep(0.5)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-500:]
