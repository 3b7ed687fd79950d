"""A hostile room pressing every compute button: 10 viewers of a ViT-B-32 pair (random weights, no download).

Each viewer is a session of the room's job queue (``wiseft_core.serve.jobs``, the app's defaults: 1 worker,
``--live-models 2``): it presses "Compute flips", "Compute the landscape" and turns the saliency
filmstrip on, in a random order at random moments (each press replaces the session's previous job, as
in the app), and moves its Playground slider to off-grid alphas meanwhile (a live forward through the
same pool). The jobs run what the pages run: ``along_alpha``/``measure_path``/``explain_along`` on the
pool's models, batches of 32, 256 MB of preprocessed images kept per job, on ``demo:sketch`` (2000
images; the pair's head has the demo world's 20 classes). Reported, in a fresh process:

- peak RSS (VmHWM) against the budget: the loaded pair + the pool's N copies + 1 GB;
- for a few running jobs, the time from "the session ended" (its connection check turns false, as when
  a tab closes) to the job's worker letting go of it; then for all sessions at once, to the worker idle.

``--per-computation`` measures the previous design instead: every viewer's flips in its own thread on
its own live model, all at once (stopped after ``--seconds``).

``nice -n 10 python benchmarks/hostile_jobs.py [--json] [--viewers 10] [--seconds 60] [--live-models 2]``
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

DATASET = "demo:sketch"
APP_BATCH, APP_KEEP_BYTES = 32, 256 << 20  # as app_pages/room_jobs.py


def status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def buttons(pair, pool, loaded, images):
    """The three computations a viewer can start, as the pages build them: name -> work(job)."""
    from wiseft_core.inspection.along_alpha import along_alpha
    from wiseft_core.inspection.landscape import measure_path
    from wiseft_core.inspection.saliency import explain_along

    def live(job):
        return lambda alpha: pool.at(alpha, background=True, stop=job.token.check)

    def report(job):
        return lambda done, total: job.report(done / total, f"pass {done} of {total}")

    def flips(job):
        return along_alpha(pair, loaded, [k / 10 for k in range(11)], ("weights", "outputs"), APP_BATCH,
                           progress=report(job), live=live(job), cancel=job.token, keep_bytes=APP_KEEP_BYTES)

    def landscape(job):
        return measure_path("your pair", pair, [loaded], [-0.5 + k * 0.1 for k in range(21)], APP_BATCH,
                            progress=report(job), live=live(job), cancel=job.token, keep_bytes=APP_KEEP_BYTES)

    def filmstrip(job):
        return explain_along(live(job), images, pair.preprocessing, (0.0, 0.25, 0.4, 0.5, 0.75, 1.0), cancel=job.token)

    return {"flips": flips, "landscape": landscape, "filmstrip": filmstrip}


def viewer(i: int, queue, work: dict, pool, pair, batch, connected: dict, stop: threading.Event) -> None:
    """Presses every button in a random order, moving its slider (off-grid, live path) in between."""
    from wiseft_core.serve import alpha_grid

    rng = random.Random(i)
    session = f"viewer-{i}"
    grids = [alpha_grid.PartialGrid(len(pair.classnames))]
    for name in rng.sample(list(work), len(work)):
        if stop.wait(rng.uniform(0.0, 3.0)):
            return
        queue.submit(session, name, work[name], alive=lambda: connected[session])
        alpha = round(rng.uniform(0.01, 0.99), 3) + 0.0007  # never on the 0.05 grid
        alpha_grid.logits_at(pool, (pair.zeroshot.model, pair.finetuned.model), batch, grids, alpha)


def stop_latencies(queue, connected: dict, trials: int) -> list[float]:
    """For ``trials`` running jobs: seconds from their session's end to the worker letting go of the job."""
    seconds = []
    for _ in range(trials):
        running = [queue.job(s) for s in connected if queue.job(s) is not None and queue.job(s).state == "running"]
        if not running:
            break
        job = running[0]
        start = time.perf_counter()
        connected[job.session] = False
        while not job.finished:
            time.sleep(0.005)
        seconds.append(time.perf_counter() - start)
        time.sleep(1.0)  # the next job gets going
    return seconds


def room(zeroshot: str, finetuned: str, viewers: int, seconds: float, live_models: int) -> dict:
    from wiseft_core.data.datasets import load_dataset
    from wiseft_core.engine.pair import load_pair
    from wiseft_core.engine.predict import to_batch
    from wiseft_core.serve.interpolator_pool import InterpolatorPool
    from wiseft_core.serve.jobs import JobQueue

    torch.set_num_threads(1)
    pair = load_pair(zeroshot, finetuned)
    copy_mb = sum(t.numel() * t.element_size() for t in pair.zeroshot.model.state_dict().values()) / 2**20
    loaded = load_dataset(DATASET)
    images = [loaded.images[k][0] for k in range(6)]
    batch = to_batch(images[:1], pair.preprocessing)
    with torch.no_grad():
        pair.zeroshot.model(batch)  # warm-up before the baseline
    loaded_mb = status_kib("VmRSS") / 1024
    pool = InterpolatorPool(pair.new_interpolator, size=live_models)
    queue = JobQueue(workers=1)
    work = buttons(pair, pool, loaded, images)
    connected = {f"viewer-{i}": True for i in range(viewers)}
    stop = threading.Event()
    threads = [threading.Thread(target=viewer, args=(i, queue, work, pool, pair, batch, connected, stop))
               for i in range(viewers)]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    latencies = stop_latencies(queue, connected, trials=3)
    start = time.perf_counter()
    for session in connected:
        connected[session] = False
    idle = queue.wait_idle(timeout=60)
    all_ended_s = time.perf_counter() - start
    peak_mb = status_kib("VmHWM") / 1024
    budget_mb = loaded_mb + live_models * copy_mb + 1024
    return {"design": f"job queue (1 worker), pool of {live_models}", "viewers": viewers, "seconds": seconds,
            "copy_mb": round(copy_mb), "after_load_mb": round(loaded_mb), "peak_mb": round(peak_mb),
            "budget_mb": round(budget_mb), "within_budget": peak_mb <= budget_mb, "live_models": pool.created,
            "stop_after_session_end_s": [round(s, 3) for s in latencies],
            "all_sessions_ended_to_idle_s": round(all_ended_s, 3) if idle else None}


def per_computation(zeroshot: str, finetuned: str, viewers: int, seconds: float) -> dict:
    """The previous design: each viewer's flips on a live model of its own, all at once."""
    from wiseft_core.data.datasets import load_dataset
    from wiseft_core.engine.pair import load_pair
    from wiseft_core.inspection.along_alpha import along_alpha
    from wiseft_core.serve.jobs import Cancelled, CancelToken

    torch.set_num_threads(1)
    pair = load_pair(zeroshot, finetuned)
    copy_mb = sum(t.numel() * t.element_size() for t in pair.zeroshot.model.state_dict().values()) / 2**20
    loaded = load_dataset(DATASET)
    with torch.no_grad():
        pair.zeroshot.model(torch.zeros(1, 3, 224, 224))
    loaded_mb = status_kib("VmRSS") / 1024
    token = CancelToken()

    def press() -> None:
        try:
            along_alpha(pair, loaded, [k / 10 for k in range(11)], ("weights", "outputs"), cancel=token)
        except Cancelled:
            pass

    threads = [threading.Thread(target=press) for _ in range(viewers)]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    token.cancel()
    for thread in threads:
        thread.join()
    peak_mb = status_kib("VmHWM") / 1024
    return {"design": "a live model per computation (before)", "viewers": viewers, "seconds": seconds,
            "copy_mb": round(copy_mb), "after_load_mb": round(loaded_mb), "peak_mb": round(peak_mb),
            "extra_mb": round(peak_mb - loaded_mb)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--viewers", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--live-models", type=int, default=2)
    parser.add_argument("--per-computation", action="store_true")
    parser.add_argument("--worker", nargs=2, metavar=("ZEROSHOT", "FINETUNED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        row = (per_computation(*args.worker, args.viewers, args.seconds) if args.per_computation else
               room(*args.worker, args.viewers, args.seconds, args.live_models))
        print(json.dumps(row))
        return
    from wiseft_core import testing
    from wiseft_core.data.world import CLASSNAMES

    with tempfile.TemporaryDirectory() as tmp:
        zeroshot, finetuned = testing.write_random_pair(Path(tmp), model_name="ViT-B-32", classnames=CLASSNAMES)
        command = [sys.executable, __file__, "--worker", str(zeroshot), str(finetuned), "--viewers",
                   str(args.viewers), "--seconds", str(args.seconds), "--live-models", str(args.live_models)]
        if args.per_computation:
            command.append("--per-computation")
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        row = json.loads(out.strip().splitlines()[-1])
    if args.json:
        print(json.dumps(row, indent=2))
        return
    print(json.dumps(row))
    if "budget_mb" in row:
        latencies = row["stop_after_session_end_s"]
        print(f"{row['viewers']} viewers, {row['design']}: peak {row['peak_mb']} MB vs budget {row['budget_mb']} MB "
              f"(pair loaded {row['after_load_mb']} MB + {args.live_models} x {row['copy_mb']} MB + 1 GB); "
              f"session end -> job released: max {max(latencies, default=0):.2f} s, median "
              f"{statistics.median(latencies) if latencies else 0:.2f} s")


if __name__ == "__main__":
    main()
