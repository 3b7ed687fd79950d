"""The library's CUDA paths on a real GPU: exactness, memory per live model, and the app's per-move costs.

For each architecture (random weights, no download) a pair is loaded on the GPU and checked:

- exactness: a live model at several alphas (inside and outside [0, 1]) against the formula's state
  dict loaded into a fresh model, TF32 off (max |logit difference|);
- memory: the GPU memory a new live model costs (``torch.cuda`` peak while building it, in model
  copies; the engine's buffer is one copy, a throw-away initialised model would be a second);
- concurrency: 8 threads at 8 off-grid alphas through ``alpha_grid.logits_at`` on a pool of 2 live
  models, each result against a single-threaded interpolation;
- timings (CUDA-synchronised medians): ``set_alpha``; one forward of 1 and 32 images; the first
  answer for a new image (lease + set_alpha + forward); the output-space ensemble; a 21-alpha grid.

``python benchmarks/cuda_paths.py [--models ViT-B-32 ViT-L-14] [--json]``
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
from pathlib import Path

import timing
import torch

from wiseft_core import testing
from wiseft_core.engine.interpolation import interpolate_state_dicts
from wiseft_core.engine.pair import load_pair
from wiseft_core.files.checkpoints import build_classifier
from wiseft_core.serve import alpha_grid
from wiseft_core.serve.interpolator_pool import InterpolatorPool

CHECK_ALPHAS = (0.0, 0.3, 0.5, 1.0, -0.25, 1.4)
THREAD_ALPHAS = (-0.45, -0.2, 0.13, 0.37, 0.62, 0.88, 1.12, 1.33)


DEVICE = "cuda"


def sync() -> None:
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def median_ms(fn, repeats: int = 9) -> float:
    return round(timing.median_ms(fn, repeats, cuda=DEVICE == "cuda"), 3)


def _new_live_model_memory(pair, copy_bytes: int) -> dict:
    """Peak and kept GPU memory of building one live model, in model copies (empty on the CPU)."""
    if DEVICE != "cuda":
        return {}
    sync()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    live = pair.new_interpolator(DEVICE)
    sync()
    measured = {"peak_copies": round((torch.cuda.max_memory_allocated() - before) / copy_bytes, 3),
                "kept_copies": round((torch.cuda.memory_allocated() - before) / copy_bytes, 3)}
    del live
    return measured


def _max_diff_vs_formula(pair, live, batch: torch.Tensor) -> float:
    """Largest logit difference between the live model and the formula's state dict, TF32 off."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    worst = 0.0
    reference = build_classifier(pair.meta).to(DEVICE).eval()  # (built on the device, a tensor stays on the CPU)
    for alpha in CHECK_ALPHAS:
        got = alpha_grid.live_weight_space_logits(live, batch, alpha)
        reference.load_state_dict(interpolate_state_dicts(pair.zeroshot.model.state_dict(),
                                                          pair.finetuned.model.state_dict(), alpha))
        with torch.no_grad():
            worst = max(worst, (got.cpu() - reference(batch).cpu()).abs().max().item())  # the app gets CPU logits
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    return worst


def _crosstalk(pair, live, pool: InterpolatorPool, batch: torch.Tensor) -> float:
    """Threads at different alphas through one pool: the largest difference from each alpha's own logits."""
    expected = {a: alpha_grid.live_weight_space_logits(live, batch, a) for a in THREAD_ALPHAS}
    grids = [alpha_grid.PartialGrid(len(pair.classnames))]
    results: dict[float, list[torch.Tensor]] = {a: [] for a in THREAD_ALPHAS}
    barrier = threading.Barrier(len(THREAD_ALPHAS))

    def viewer(alpha: float) -> None:
        for _ in range(5):
            barrier.wait(timeout=120)
            results[alpha].append(alpha_grid.logits_at(pool, (pair.zeroshot.model, pair.finetuned.model), batch,
                                                       grids, alpha).logits)

    threads = [threading.Thread(target=viewer, args=(a,)) for a in THREAD_ALPHAS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return max((r - expected[a]).abs().max().item() for a in THREAD_ALPHAS for r in results[a])


def check_model(name: str, workdir: Path) -> dict:
    zeroshot, finetuned = testing.write_random_pair(workdir / name, model_name=name, model_config=None)
    pair = load_pair(zeroshot, finetuned, device=DEVICE)
    copy_bytes = sum(t.numel() * t.element_size() for t in pair.zeroshot.model.state_dict().values())
    size = int(pair.preprocessing.image_size)
    generator = torch.Generator(device=DEVICE).manual_seed(0)
    batch1 = torch.randn(1, 3, size, size, device=DEVICE, generator=generator)
    batch32 = torch.randn(32, 3, size, size, device=DEVICE, generator=generator)

    new_live = _new_live_model_memory(pair, copy_bytes)
    live = pair.new_interpolator(DEVICE)
    worst = _max_diff_vs_formula(pair, live, batch32)
    pool = InterpolatorPool(lambda: pair.new_interpolator(DEVICE), size=2)
    crosstalk = _crosstalk(pair, live, pool, batch1)

    alphas = iter([0.05 * (i % 21) + 0.001 for i in range(10_000)])
    timings = {
        "set_alpha_ms": median_ms(lambda: live.set_alpha(next(alphas))),
        "forward_1_ms": median_ms(lambda: alpha_grid.forward_logits(live.model, batch1)),
        "forward_32_ms": median_ms(lambda: alpha_grid.forward_logits(live.model, batch32)),
        "first_answer_ms": median_ms(lambda: alpha_grid.logits_at(
            pool, (pair.zeroshot.model, pair.finetuned.model), batch1,
            [alpha_grid.PartialGrid(len(pair.classnames))], next(alphas)).logits),
        "output_space_1_ms": median_ms(lambda: alpha_grid.output_space_logits(
            pair.zeroshot.model, pair.finetuned.model, batch1, 0.37)),
        "grid_21_alphas_1_image_ms": median_ms(lambda: [alpha_grid.live_weight_space_logits(live, batch1, a / 20)
                                                        for a in range(21)], repeats=3),
    }
    return {"model": name, "parameters_m": round(copy_bytes / 4e6, 1), "copy_mb": round(copy_bytes / 2**20, 1),
            "new_live_model": new_live, "max_abs_logit_diff_vs_formula_fp32": worst,
            "threads_max_abs_diff": crosstalk, "live_models_created": pool.created, "timings": timings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["ViT-B-32", "ViT-L-14"])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--device", default="cuda", help="cuda (the point); cpu only to try the script itself")
    args = parser.parse_args()
    global DEVICE
    DEVICE = args.device
    if DEVICE == "cuda" and not torch.cuda.is_available():
        raise SystemExit("needs a CUDA device")
    name = torch.cuda.get_device_name() if DEVICE == "cuda" else "cpu"
    results = {"device": name, "torch": torch.__version__, "models": []}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            results["models"].append(check_model(name, Path(tmp)))
            if DEVICE == "cuda":
                torch.cuda.empty_cache()
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{results['device']}, torch {results['torch']}")
    for row in results["models"]:
        print(f"{row['model']}: {row['parameters_m']} M values; a new live model peaks at "
              f"{row['new_live_model'].get('peak_copies')} copies; max |logit diff| vs the formula "
              f"{row['max_abs_logit_diff_vs_formula_fp32']:.2e}; 8 threads {row['threads_max_abs_diff']:.2e}; "
              + ", ".join(f"{k} {v}" for k, v in row["timings"].items()))


if __name__ == "__main__":
    main()
