"""Server memory of a room: 1 vs 30 simulated viewers of a ViT-B-32 pair (random weights, no download).

Each viewer is a thread doing what a Playground session does on the live path: predictions at its
own off-grid alpha through ``alpha_grid.logits_at``, on the shared pair, the shared grids and the
shared pool of live models (the app's defaults: ``--live-models 2``). Every count of viewers runs
in a fresh process, so its peak resident memory (VmHWM) is its own. Reported in model copies (fp32
classifier size): the pair costs ~2 (both endpoints, shared by all viewers); the target is at most
4 more at 30 viewers. Cross-talk check: every viewer's logits equal a fresh interpolation at its
alpha (to 1e-5). ``--per-viewer`` measures the previous design (one live model per viewer) instead.

``python benchmarks/app_memory.py [--json] [--viewers 1 30] [--per-viewer]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import torch


def status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def viewer_alphas(n: int) -> list[float]:
    """``n`` different alphas in (0, 1), none on the 0.05 grid: every viewer takes the live path."""
    from wiseft_core.serve.alpha_grid import grid_index

    alphas = [round(0.007 + 0.0317 * i, 4) for i in range(n)]
    return [a + 0.001 if grid_index(a) is not None else a for a in alphas]


def worker(zeroshot: str, finetuned: str, viewers: int, per_viewer: bool, pool_size: int, rounds: int) -> dict:
    """One measurement in this process: load the pair, run ``viewers`` threads, report memory."""
    from wiseft_core.engine.pair import load_pair
    from wiseft_core.serve import alpha_grid
    from wiseft_core.serve.interpolator_pool import InterpolatorPool

    torch.set_num_threads(1)
    pair = load_pair(zeroshot, finetuned)
    copy_bytes = sum(t.numel() * t.element_size() for t in pair.zeroshot.model.state_dict().values())
    batch = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    ends = (pair.zeroshot.model, pair.finetuned.model)
    alpha_grid.forward_logits(pair.zeroshot.model, batch)  # warm-up: allocator and kernels, before the baseline
    loaded_kib = status_kib("VmRSS")
    pool = InterpolatorPool(pair.new_interpolator, size=pool_size)
    grids = [alpha_grid.PartialGrid(len(pair.classnames))]
    alphas = viewer_alphas(viewers)
    results: dict[float, torch.Tensor] = {}
    own = [pair.new_interpolator() for _ in alphas] if per_viewer else []
    barrier = threading.Barrier(viewers)
    errors: list[BaseException] = []

    def viewer(i: int, alpha: float) -> None:
        try:
            for _ in range(rounds):
                barrier.wait(timeout=600)
                if per_viewer:
                    logits = alpha_grid.live_weight_space_logits(own[i], batch, alpha)
                else:
                    logits = alpha_grid.logits_at(pool, ends, batch, grids, alpha).logits
                results[alpha] = logits
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=viewer, args=(i, a)) for i, a in enumerate(alphas)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    peak_kib = status_kib("VmHWM")
    checked = 0
    check = pair.new_interpolator()
    for alpha in alphas[:: max(1, len(alphas) // 5)]:
        expected = alpha_grid.live_weight_space_logits(check, batch, alpha)
        torch.testing.assert_close(results[alpha], expected, rtol=0, atol=1e-5)
        checked += 1
    return {"viewers": viewers, "design": "per-viewer" if per_viewer else f"pool of {pool_size}",
            "copy_mb": round(copy_bytes / 2**20, 1), "after_load_mb": round(loaded_kib / 1024),
            "peak_mb": round(peak_kib / 1024),
            "extra_copies_at_peak": round((peak_kib * 1024 - loaded_kib * 1024) / copy_bytes, 2),
            "live_models": len(own) if per_viewer else pool.created, "viewers_checked_no_crosstalk": checked}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--viewers", type=int, nargs="+", default=[1, 30])
    parser.add_argument("--per-viewer", action="store_true")
    parser.add_argument("--live-models", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--worker", nargs=3, metavar=("ZEROSHOT", "FINETUNED", "VIEWERS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        zeroshot, finetuned, viewers = args.worker
        print(json.dumps(worker(zeroshot, finetuned, int(viewers), args.per_viewer, args.live_models, args.rounds)))
        return
    from wiseft_core import testing

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        zeroshot, finetuned = testing.write_random_pair(Path(tmp), model_name="ViT-B-32")
        for viewers in args.viewers:
            command = [sys.executable, __file__, "--worker", str(zeroshot), str(finetuned), str(viewers),
                       "--live-models", str(args.live_models), "--rounds", str(args.rounds)]
            if args.per_viewer:
                command.append("--per-viewer")
            out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    for row in rows:
        print(f"{row['viewers']:>3} viewers ({row['design']}): pair loaded {row['after_load_mb']} MB, peak "
              f"{row['peak_mb']} MB = +{row['extra_copies_at_peak']} model copies of {row['copy_mb']} MB "
              f"({row['live_models']} live models); no cross-talk in {row['viewers_checked_no_crosstalk']} checked")


if __name__ == "__main__":
    main()
