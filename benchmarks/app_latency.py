"""How fast the app answers: slider moves, cached grid alphas and the first page load.

    python benchmarks/app_latency.py [--json] [--models demo,ViT-B-32] [--repeats 7]

For each pair (the demo pair when shipped, and ViT-B-32 at random weights — no download) on CPU:
- ``forward_ms``: the floor, ``set_alpha`` + one forward of one image;
- ``slider_uncached_ms``: what the server does when the slider lands on an alpha that is not on the
  grid (extrapolation, per-block alpha): set_alpha + forward + softmax + the live slider's payload
  serialised to JSON as Streamlit sends it; target ≤ 1.3 × ``forward_ms``;
- ``slider_cached_ms``: the same for a grid alpha (every slider stop in 0..1), served from the
  21-point grid without a forward (the browser has already drawn it from the grid); target ≤ 20 ms;
- ``grid_ms``: computing the 21-point grid for one image (once per image and pair);
- ``first_load_s`` / ``first_playground_s``: a cold ``AppTest`` run of the Home page (loads the
  pair) and then the Playground with one uploaded image (computes its grid); and
  ``apptest_rerun_ms``, a full Streamlit script rerun after a slider move (includes AppTest's own
  overhead, so an upper bound for the browser).
Medians over ``--repeats`` runs. Timings share the machine with whatever else runs.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import timing
import torch

from wiseft_core import testing
from wiseft_core.demo.assets import DEMO_FINETUNED, DEMO_ZEROSHOT, demo_pair_available
from wiseft_core.engine.pair import load_pair
from wiseft_core.engine.predict import to_batch
from wiseft_core.serve import alpha_grid
from wiseft_core.serve.app_launch import default_threads
from wiseft_core.serve.slider_data import grid_probs, image_entry, slider_data

REPO = Path(__file__).resolve().parent.parent


def median_ms(fn, repeats: int) -> float:
    return timing.median_ms(fn, repeats, warmup=False)


def sample_png() -> bytes:
    from PIL import Image

    image = Image.new("RGB", (96, 80), (180, 60, 40))
    for x in range(30, 60):
        for y in range(20, 60):
            image.putpixel((x, y), (240, 240, 240))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def render(classnames, grid: alpha_grid.PartialGrid, probs, alpha) -> None:
    """The Playground's output for one image as it is sent: the live slider's payload, as JSON."""
    entry = image_entry("sample.png", None, None, "", grid_probs(grid, "weights"), probs[0], 5)
    json.dumps(slider_data([entry], classnames, alpha, -0.5, 1.5, "weights", True, False))


def library_path(zeroshot: str, finetuned: str, repeats: int) -> dict:
    from wiseft_core.files.images import open_image

    pair = load_pair(zeroshot, finetuned)
    interpolator = pair.new_interpolator()
    batch = to_batch([open_image(sample_png())], pair.preprocessing)
    classnames = pair.classnames
    alpha_grid.live_weight_space_logits(interpolator, batch, 0.3)  # warm-up
    start = time.perf_counter()
    grid = alpha_grid.compute_alpha_grid(interpolator, batch)
    grid_ms = (time.perf_counter() - start) * 1000
    partial = alpha_grid.PartialGrid(len(classnames))
    for a, row in zip(grid.alphas, grid.logits[:, 0]):
        partial.put(a, row)
    uncached = iter([1.0 + 0.5 * i / (4 * repeats) for i in range(1, 4 * repeats)])

    def forward_only():
        interpolator.set_alpha(next(uncached))
        alpha_grid.forward_logits(interpolator.model, batch)

    def slider_uncached():
        alpha = next(uncached)
        probs = alpha_grid.live_weight_space_logits(interpolator, batch, alpha).softmax(-1)
        render(classnames, partial, probs, alpha)

    def slider_cached():
        probs = partial.row(0.45).softmax(-1)[None]
        render(classnames, partial, probs, 0.45)

    forward = median_ms(forward_only, repeats)
    slider = median_ms(slider_uncached, repeats)
    return {
        "params_M": round(sum(p.numel() for p in pair.zeroshot.model.parameters()) / 1e6, 2),
        "forward_ms": round(forward, 2),
        "slider_uncached_ms": round(slider, 2),
        "slider_vs_forward": round(slider / forward, 3),
        "slider_cached_ms": round(median_ms(slider_cached, repeats), 2),
        "grid_ms": round(grid_ms, 1),
    }


def app_path(zeroshot: str, finetuned: str, repeats: int) -> dict:
    from streamlit.testing.v1 import AppTest

    sys.argv = ["app.py", "--zeroshot", zeroshot, "--finetuned", finetuned, "--threads", str(torch.get_num_threads())]
    start = time.perf_counter()
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=600)
    at.query_params["sample"] = "none"  # no gallery samples: one uploaded image only
    at.run()
    first_load = time.perf_counter() - start
    start = time.perf_counter()
    at.switch_page("app_pages/playground.py").run()
    at.file_uploader(key="images_upload").set_value(("sample.png", sample_png(), "image/png")).run()
    first_playground = time.perf_counter() - start
    assert not at.exception, at.exception
    at.toggle(key="extrapolate").set_value(True).run()
    alphas = iter([1.05 + 0.05 * i for i in range(repeats)])

    def move() -> None:  # what releasing the live slider does: the session's alpha changes, the page reruns
        at.session_state["wiseft_alpha"] = round(next(alphas), 2)
        at.run()

    rerun = median_ms(move, repeats)
    return {"first_load_s": round(first_load, 2), "first_playground_s": round(first_playground, 2),
            "apptest_rerun_ms": round(rerun, 1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--models", default="demo,ViT-B-32")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-app", action="store_true", help="skip the AppTest measurements")
    parser.add_argument("--threads", type=int, default=default_threads(),
                        help="torch CPU threads (default: the app's, half the cores)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    results = {"threads": args.threads}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            if name == "demo":
                if not demo_pair_available():
                    results["demo"] = {"skipped": "assets/demo pair not present"}
                    continue
                paths = (str(DEMO_ZEROSHOT), str(DEMO_FINETUNED))
            else:
                zs, ft = testing.write_random_pair(Path(tmp) / name, model_name=name)
                paths = (str(zs), str(ft))
            results[name] = library_path(*paths, args.repeats)
            if not args.no_app:
                results[name].update(app_path(*paths, args.repeats))
    results["targets"] = {"slider_vs_forward": "<= 1.3", "slider_cached_ms": "<= 20"}
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for name, values in results.items():
            print(f"{name}: " + (", ".join(f"{k}={v}" for k, v in values.items()) if isinstance(values, dict)
                                 else str(values)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
