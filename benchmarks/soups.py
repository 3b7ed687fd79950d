"""How fast is an N-way soup? The engine's set_weights against the bandwidth bound and the dict-based soup.

For N = 2, 4, 8 endpoints of one classifier (random weights, one stacked buffer):
(a) dict soup: {k: sum_i w_i sd_i[k]} then model.load_state_dict (how soups are usually written)
(b) engine:    WeightInterpolator.set_weights(w) (N = 2: one fused lerp; N > 2: one GEMV over [N, numel])
(c) bound:     the fastest bare fused weighted sum over the same flat buffers: torch.lerp for N = 2, else the
               better of one torch.mv over the stacked buffer and a mul + (N - 1) add_ chain

Memory: N = 8 endpoints of ViT-B-32 are ~2.8 GB in fp32; the endpoints of each N are freed before the next.
Usage: python benchmarks/soups.py [--model ViT-B-32] [--classes 1000] [--counts 2,4,8] [--device cpu|cuda] [--json]
"""

from __future__ import annotations

import argparse
import copy
import gc
import json

import torch
from timing import median_ms, random_classifier

from wiseft_core.engine.interpolation import WeightEndpoints, WeightInterpolator


def endpoints_of(model: torch.nn.Module, count: int, device: torch.device) -> WeightEndpoints:
    """``count`` endpoints: the model's weights plus seeded noise, written straight into the stacked buffer."""
    theta = model.state_dict()
    endpoints = WeightEndpoints([theta] * count, device=device)  # one stack of `count` copies, then perturbed
    generator = torch.Generator(device=device).manual_seed(count)
    for stack in endpoints.stack.values():
        for row in stack[1:]:
            row.add_(torch.randn(row.shape, generator=generator, device=device, dtype=row.dtype), alpha=0.01)
    return endpoints


def measure(model: torch.nn.Module, count: int, device: torch.device, repeats: int) -> dict:
    endpoints = endpoints_of(model, count, device)
    weights = (0.7, 0.3) if count == 2 else (1.0 / count,) * count
    engine = WeightInterpolator(endpoints, copy.deepcopy(model))
    stack = endpoints.stack[torch.float32]
    out = torch.empty_like(stack[0])
    vector = torch.tensor(weights, device=device)
    dicts = [{s.name: endpoints.view(i, s.name) for s in endpoints.segments} for i in range(count)]
    naive_model = copy.deepcopy(model)

    def dict_soup() -> None:
        naive_model.load_state_dict({k: sum(w * sd[k] for w, sd in zip(weights, dicts)) for k in dicts[0]},
                                    strict=False)

    def chain() -> None:
        torch.mul(stack[0], weights[0], out=out)
        for i in range(1, count):
            out.add_(stack[i], alpha=weights[i])

    cuda = device.type == "cuda"
    result = {"endpoints": count, "weights": list(weights),
              "dict_s": median_ms(dict_soup, repeats, cuda=cuda) / 1e3,
              "engine_s": median_ms(lambda: engine.set_weights(weights), repeats, cuda=cuda) / 1e3}
    if count == 2:
        result["bound_s"] = median_ms(lambda: torch.lerp(stack[0], stack[1], weights[1], out=out), repeats,
                                      cuda=cuda) / 1e3
    else:
        result["gemv_s"] = median_ms(lambda: torch.mv(stack.t(), vector, out=out), repeats, cuda=cuda) / 1e3
        result["chain_s"] = median_ms(chain, repeats, cuda=cuda) / 1e3
        result["bound_s"] = min(result["gemv_s"], result["chain_s"])
    result["engine_over_bound"] = result["engine_s"] / result["bound_s"]
    result["dict_over_engine"] = result["dict_s"] / result["engine_s"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--counts", default="2,4,8")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    device = torch.device(args.device)
    model = random_classifier(args.model, args.classes, device)
    rows = []
    for count in (int(c) for c in args.counts.split(",")):
        rows.append(measure(model, count, device, args.repeats))
        gc.collect()
    numel = sum(t.numel() for t in model.state_dict().values() if t.is_floating_point())
    report = {"model": f"{args.model} image tower + {args.classes}-class head", "parameters": numel,
              "device": str(device), "threads": torch.get_num_threads(), "rows": rows}
    if args.json:
        print(json.dumps(report))
        return
    print(f"{report['model']}: {numel:,} values per endpoint on {device} ({report['threads']} threads), median ms")
    print(f"{'N':>3} {'dict soup':>10} {'engine':>9} {'bound':>9} {'engine/bound':>13} {'dict/engine':>12}")
    for r in rows:
        print(f"{r['endpoints']:>3} {r['dict_s'] * 1e3:>10.1f} {r['engine_s'] * 1e3:>9.1f} {r['bound_s'] * 1e3:>9.1f} "
              f"{r['engine_over_bound']:>12.2f}x {r['dict_over_engine']:>11.1f}x")


if __name__ == "__main__":
    main()
