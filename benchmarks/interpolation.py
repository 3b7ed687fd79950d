"""How fast is set_alpha? Compares the reference-code style merge with our engine and the memory bound.

(a) naive:  {k: (1-a)*t0[k] + a*t1[k]} then model.load_state_dict (what the public wise-ft code does)
(b) engine: WeightInterpolator.set_alpha (one fused lerp per flat buffer, allocation-free)
(c) bound:  a bare torch.lerp over one flat buffer of the same size (memory bandwidth bound)

Usage: python benchmarks/interpolation.py [--model ViT-B-32] [--classes 1000] [--device cpu|cuda] [--json]
"""

from __future__ import annotations

import argparse
import copy
import json

import torch
from timing import median_ms, random_classifier

from wiseft_core.engine.interpolation import WeightEndpoints, WeightInterpolator


def timed(fn, device: torch.device, repeats: int) -> float:
    """Median seconds of ``fn(i)`` for i = 1..repeats after one warm-up call with i = 0."""
    calls = iter(range(repeats + 1))
    return median_ms(lambda: fn(next(calls)), repeats, cuda=device.type == "cuda") / 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    device = torch.device(args.device)
    model = random_classifier(args.model, args.classes, device)
    theta0 = {k: v.clone() for k, v in model.state_dict().items()}
    theta1 = {k: (v + 0.01 * torch.randn_like(v)) if v.is_floating_point() else v.clone() for k, v in theta0.items()}
    alphas = [0.05 * (i % 21) for i in range(args.repeats + 1)]

    naive_model = copy.deepcopy(model)

    def naive(i: int) -> None:
        a = alphas[i]
        merged = {k: (1 - a) * theta0[k] + a * theta1[k] if theta0[k].is_floating_point() else theta0[k]
                  for k in theta0}
        naive_model.load_state_dict(merged)

    engine = WeightInterpolator(WeightEndpoints(theta0, theta1, device=device), copy.deepcopy(model))

    def ours(i: int) -> None:
        engine.set_alpha(alphas[i])

    numel = engine.endpoints.numel
    flat0, flat1 = torch.randn(numel, device=device), torch.randn(numel, device=device)
    out = torch.empty_like(flat0)

    def bound(i: int) -> None:
        torch.lerp(flat0, flat1, alphas[i], out=out)

    result = {
        "model": f"{args.model} image tower + {args.classes}-class head",
        "parameters": numel,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "naive_s": timed(naive, device, args.repeats),
        "engine_s": timed(ours, device, args.repeats),
        "bound_s": timed(bound, device, args.repeats),
    }
    result["naive_over_engine"] = result["naive_s"] / result["engine_s"]
    result["engine_over_bound"] = result["engine_s"] / result["bound_s"]
    if args.json:
        print(json.dumps(result))
        return
    print(f"{result['model']}: {numel:,} interpolated values on {device} ({result['threads']} threads)")
    print(f"  (a) naive dict + load_state_dict : {result['naive_s'] * 1e3:9.2f} ms")
    print(f"  (b) engine set_alpha             : {result['engine_s'] * 1e3:9.2f} ms")
    print(f"  (c) bare lerp (bandwidth bound)  : {result['bound_s'] * 1e3:9.2f} ms")
    print(f"  engine is {result['naive_over_engine']:.1f}x faster than naive (target >= 10x) and "
          f"{result['engine_over_bound']:.2f}x the bound (target <= 1.3x)")


if __name__ == "__main__":
    main()
