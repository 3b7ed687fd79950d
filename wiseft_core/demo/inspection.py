"""The demo world's inspection assets: pointing game, flips and loss landscape, from one command.

``python -m wiseft_core.demo.inspection [--out assets/demo]`` (or ``wiseft demo inspect``) writes
``<out>/inspection/``:

- ``pointing_game.csv``: per distribution and alpha, the share of test images whose saliency peak
  (:mod:`wiseft_core.inspection.saliency`, class explained = the prediction at that alpha) falls on the object.
  The world knows every object's mask, so this is measured, not eyeballed; ``object_area`` is the
  chance level (a peak at a random pixel hits the object that often).
- ``flips.npz``: every test image's prediction along alpha, weight and output space (``wiseft flips``).
- ``landscape.csv``: loss and top-1 along alpha in [-0.5, 1.5] for three paths (``wiseft landscape``):
  zero-shot <-> fine-tuned; two fine-tunes of the same zero-shot model (seeds 0 and 1); two fine-tunes of
  CLIPs pretrained from different seeds. The last two reuse ``wiseft demo seeds``' checkpoints and are
  made with the same recipe when missing (``--no-build`` skips a path instead).
- ``inspection.json``: what was measured, with which checkpoints (sha256) and how long it took.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from wiseft_core.data import world
from wiseft_core.demo.assets import FLIPS_FILE, INFO_FILE, LANDSCAPE_CSV, PATHS, POINTING_CSV, SUBDIR
from wiseft_core.engine.alphas import ENSEMBLES, alpha_range

POINTING_ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)
POINTING_FIELDS = ("distribution", "alpha", "n", "pointing", "pointing_when_right", "pointing_when_wrong",
                   "empty_maps", "top1", "object_area")


# ------------------------------------------------------------------------------------------ object masks
@contextmanager
def _recorded_shapes() -> Iterator[list[tuple[str, np.ndarray]]]:
    """Record every ``world.shape_mask`` call while images are drawn; the pixels are unchanged."""
    calls: list[tuple[str, np.ndarray]] = []
    original = world.shape_mask

    def recorder(shape, *args, **kwargs):
        mask = original(shape, *args, **kwargs)
        calls.append((shape, mask))
        return mask

    world.shape_mask = recorder
    try:
        yield calls
    finally:
        world.shape_mask = original


def image_and_mask(distribution: str, split: str, index: int):
    """(image, label, object mask [32, 32] bool): the mask is the union of the class's own shape draws.

    Renderers draw other shapes too (the adversarial distractor is always another shape), so only
    draws of the labelled shape count; supersampled masks are box-filtered to image pixels.
    """
    with _recorded_shapes() as calls:
        image, label = world.generate(distribution, split, index)
    shape = world.SHAPES[label // len(world.SIZE_WORDS)]
    drawn = [mask for name, mask in calls if name == shape]
    union = np.max(drawn, axis=0) if drawn else np.zeros((world.IMAGE_SIZE * 2,) * 2, dtype=np.float32)
    size = world.IMAGE_SIZE
    pixels = union.reshape(size, union.shape[0] // size, size, union.shape[1] // size).mean(axis=(1, 3))
    return image, label, pixels >= 0.5


# ------------------------------------------------------------------------------------------ pointing game
def pointing_game(pair, distributions: Sequence[str], alphas: Sequence[float] = POINTING_ALPHAS,
                  size: int | None = None, chunk: int = 500, log: Callable[[str], None] = print) -> list[dict]:
    """Rows of ``POINTING_FIELDS``: per distribution and alpha, how often the map's peak is on the object."""
    from wiseft_core.inspection.saliency import explain, pointing_hits

    interpolator = pair.new_interpolator()
    rows = []
    for name in distributions:
        n = size or world.DEFAULT_SIZES["test"]
        drawn = [image_and_mask(name, "test", i) for i in range(n)]
        masks = [m for _, _, m in drawn]
        labels = np.array([label for _, label, _ in drawn])
        peaks: dict[float, list] = {a: [] for a in alphas}
        predicted: dict[float, list] = {a: [] for a in alphas}
        for start in range(0, n, chunk):
            images = [im for im, _, _ in drawn[start:start + chunk]]
            for per_image in explain(interpolator, images, pair.preprocessing, alphas):
                for e in per_image:
                    peaks[e.alpha].append(e.peak)
                    predicted[e.alpha].append(e.predicted)
        area = float(np.mean([m.mean() for m in masks]))
        for alpha in alphas:
            hits = pointing_hits(peaks[alpha], masks)
            right = np.array(predicted[alpha]) == labels
            rows.append({
                "distribution": name, "alpha": alpha, "n": n, "pointing": round(100 * hits.mean(), 2),
                "pointing_when_right": round(100 * hits[right].mean(), 2) if right.any() else "",
                "pointing_when_wrong": round(100 * hits[~right].mean(), 2) if (~right).any() else "",
                "empty_maps": sum(p is None for p in peaks[alpha]), "top1": round(100 * right.mean(), 2),
                "object_area": round(100 * area, 2),
            })
        log(f"pointing game on demo:{name}: " + ", ".join(f"alpha {r['alpha']:g} {r['pointing']:.1f}%"
                                                          for r in rows[-len(alphas):])
            + f" (object area {100 * area:.1f}%)")
    return rows


def write_rows(path: Path, rows: Sequence[dict], fields: Sequence[str]) -> None:
    import csv

    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(fields))
        writer.writeheader()
        writer.writerows(rows)


# ------------------------------------------------------------------------------------------ landscape paths
def landscape_checkpoints(out: Path, work: Path, build_missing: bool, quiet: bool, log: Callable[[str], None],
                          pretrain: bool = True, quick: bool = False) -> dict[str, tuple[Path, Path]]:
    """The three paths' checkpoint pairs; ``wiseft demo seeds``' files are reused, missing ones made or skipped.

    ``pretrain=False`` makes heads and fine-tunes but never pretrains a CLIP (the slow step): the third
    path then needs ``pretrained_clip_seed1.safetensors`` beside the shipped one.
    """
    from wiseft_core.demo.build import FULL, QUICK, build_zeroshot, finetune_matches, reuse_or_finetune

    base = QUICK if quick else FULL

    zeroshot, finetuned = out / "zeroshot.safetensors", out / "finetuned.safetensors"
    paths = {"zero-shot to fine-tuned": (zeroshot, finetuned)}

    def finetune(zs: Path, seed: int, target: Path) -> Path | None:
        recipe = dataclasses.replace(base.end_to_end, seed=seed)
        if not build_missing and not finetune_matches(target, zs, "end-to-end", recipe):
            return None  # missing, or a leftover of another recipe or CLIP
        return reuse_or_finetune(recipe, zs, target, work, quiet, log)

    work.mkdir(parents=True, exist_ok=True)
    seed1 = finetune(zeroshot, 1, work / "finetuned_p0_s1.safetensors")
    if seed1 is not None:
        paths["fine-tune seeds 0 and 1"] = (finetuned, seed1)
    other_zs = work / "zeroshot_p1.safetensors"
    other_clip = out / "pretrained_clip_seed1.safetensors"  # where ``wiseft demo seeds`` keeps it
    if not other_zs.is_file() and build_missing and (pretrain or other_clip.is_file()):
        from wiseft_core.demo.seeds import clip_path_for

        recipe = dataclasses.replace(base, pretrain=dataclasses.replace(base.pretrain, seed=1))
        log("zero-shot head of the CLIP pretrained from seed 1 (pretrains it first if it is not there)")
        build_zeroshot(recipe, out, log, reuse=True, clip_path=clip_path_for(out, 1), target=other_zs)
    if other_zs.is_file():
        other_ft = finetune(other_zs, 0, work / "finetuned_p1_s0.safetensors")
        if other_ft is not None:
            paths["pretraining seeds 0 and 1"] = (finetuned, other_ft)
    for name in PATHS:
        if name not in paths:
            log(f"skipping the path '{name}': its checkpoints are not in {work}")
    return paths


# ------------------------------------------------------------------------------------------ the build
def build_inspection(out: Path, work: Path | None = None, quick: bool = False, build_missing: bool = True,
                     quiet: bool = False, log: Callable[[str], None] | None = None, pretrain: bool = True,
                     size: int | None = None, pointing_size: int | None = None, flip_step: float = 0.05,
                     landscape_step: float = 0.1) -> dict:
    """Measure everything into ``out/inspection`` (see the module docstring); returns ``inspection.json``.

    ``size`` limits the test images per distribution (the first ``size``; default all), ``pointing_size``
    those of the pointing game (default ``size``): on a busy machine the full build takes about an hour.
    """
    import torch

    from wiseft_core.engine.pair import load_pair
    from wiseft_core.files.digests import file_sha256

    log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    if work is None:  # shared with ``wiseft demo build`` and ``wiseft demo seeds``: their fine-tunes are reused
        from wiseft_core.demo.build import default_seeds_work

        work = default_seeds_work(out)
    target = out / SUBDIR
    target.mkdir(parents=True, exist_ok=True)
    sizes = {"test": 40} if quick else ({"test": size} if size else {})
    flip_alphas = alpha_range(0, 1, flip_step)
    landscape_alphas = alpha_range(-0.5, 1.5, landscape_step)
    started, timings = time.perf_counter(), {}
    torch.set_num_threads(1 if quick else 2)
    zeroshot, finetuned = out / "zeroshot.safetensors", out / "finetuned.safetensors"
    with world.default_sizes(**sizes):
        pair = load_pair(zeroshot, finetuned)
        distributions = list(world.DISTRIBUTIONS)
        tick = time.perf_counter()
        rows = pointing_game(pair, distributions, POINTING_ALPHAS, size=pointing_size, log=log)
        write_rows(target / POINTING_CSV, rows, POINTING_FIELDS)
        timings["pointing_game_s"] = round(time.perf_counter() - tick, 1)

        tick = time.perf_counter()
        _measure_flips(pair, distributions, flip_alphas, target, (zeroshot, finetuned), log)
        timings["flips_s"] = round(time.perf_counter() - tick, 1)

        tick = time.perf_counter()
        checkpoints = landscape_checkpoints(out, work, build_missing and not quick, quiet, log, pretrain, quick)
        timings["landscape_checkpoints_s"] = round(time.perf_counter() - tick, 1)
        tick = time.perf_counter()
        _measure_landscape(checkpoints, distributions, landscape_alphas if not quick else (-0.5, 0.0, 0.5, 1.0, 1.5),
                           target, log)
        timings["landscape_s"] = round(time.perf_counter() - tick, 1)
    info = {
        "quick": quick, "world_look": getattr(getattr(world, "LOOK", None), "to_dict", dict)(),
        "test_size": sizes.get("test", world.DEFAULT_SIZES["test"]),
        "pointing_size": pointing_size or sizes.get("test", world.DEFAULT_SIZES["test"]),
        "pointing_alphas": list(POINTING_ALPHAS), "flip_alphas": flip_alphas, "landscape_alphas": landscape_alphas,
        "saliency": "GradCAMElementWise (grad-cam), predicted class",
        "paths": {name: {"theta0": _where(a, out), "theta1": _where(b, out),
                         "theta0_sha256": file_sha256(a), "theta1_sha256": file_sha256(b), "what": PATHS[name]}
                  for name, (a, b) in checkpoints.items()},
        "timings": {**timings, "total_s": round(time.perf_counter() - started, 1)},
    }
    (target / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    log(f"wrote {target} in {info['timings']['total_s']:.0f}s")
    return info


def _measure_flips(pair, distributions: list[str], alphas: list[float], target: Path, files: tuple[Path, Path],
                   log: Callable[[str], None]) -> None:
    """Every test image's prediction along alpha, both ensembles, into ``flips.npz`` (with both sources' hashes)."""
    from wiseft_core.data.datasets import load_dataset
    from wiseft_core.files.digests import file_sha256
    from wiseft_core.inspection.along_alpha import along_alpha
    from wiseft_core.inspection.flips import save_flips

    results = []
    for name in distributions:
        results += along_alpha(pair, load_dataset(f"demo:{name}"), alphas, ENSEMBLES)
    zeroshot, finetuned = files
    save_flips(target / FLIPS_FILE, results, {
        "zeroshot": zeroshot.name, "finetuned": finetuned.name, "zeroshot_sha256": file_sha256(zeroshot),
        "finetuned_sha256": file_sha256(finetuned), "classnames": pair.classnames})
    log(f"wrote {FLIPS_FILE} ({(target / FLIPS_FILE).stat().st_size / 1024:.0f} KB)")


def _measure_landscape(checkpoints: dict[str, tuple[Path, Path]], distributions: list[str], alphas, target: Path,
                       log: Callable[[str], None]) -> None:
    """Loss and accuracy along every path, on every distribution, into ``landscape.csv``."""
    from wiseft_core.data.datasets import load_dataset
    from wiseft_core.engine.pair import load_pair
    from wiseft_core.inspection.landscape import measure_path, write_csv

    datasets = [load_dataset(f"demo:{name}") for name in distributions]
    measured = []
    for name, (first, second) in checkpoints.items():
        measured += measure_path(name, load_pair(first, second), datasets, alphas)
        log(f"landscape: {name}: barrier on demo:photo "
            f"{next(p.barrier for p in measured if p.path == name and p.dataset == 'demo:photo'):.3f}")
    write_csv(target / LANDSCAPE_CSV, measured)


def _where(path: Path, out: Path) -> str:
    """A checkpoint as the record names it: relative to the demo folder, else in the (machine-local) work folder."""
    return str(path.relative_to(out)) if path.is_relative_to(out) else f"<work>/{path.name}"


def _cmd(args: argparse.Namespace) -> int:
    from wiseft_core.demo.build import DEFAULT_OUT

    out = Path(args.out) if args.out else DEFAULT_OUT
    build_inspection(out, Path(args.work) if args.work else None, quick=args.quick,
                     build_missing=not args.no_build, quiet=args.quiet, pretrain=not args.no_pretrain,
                     size=args.size, pointing_size=args.pointing_size, flip_step=args.flip_step,
                     landscape_step=args.landscape_step)
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default=None, help="the demo folder (default: assets/demo of this checkout)")
    parser.add_argument("--work", default=None, help="where seed checkpoints are found/made (default: the folder "
                        "`wiseft demo build` and `wiseft demo seeds` use)")
    parser.add_argument("--no-build", action="store_true", help="skip landscape paths whose checkpoints are missing")
    parser.add_argument("--no-pretrain", action="store_true",
                        help="make missing heads and fine-tunes, but never pretrain a second CLIP (the slow step)")
    parser.add_argument("--size", type=int, default=None, help="test images per distribution (default: all)")
    parser.add_argument("--pointing-size", type=int, default=None, help="images per distribution for the pointing game")
    parser.add_argument("--flip-step", type=float, default=0.05, help="alpha step of flips.npz (default 0.05)")
    parser.add_argument("--landscape-step", type=float, default=0.1, help="alpha step over [-0.5, 1.5] (default 0.1)")
    parser.add_argument("--quick", action="store_true", help="40 images per distribution, no new checkpoints (tests)")
    parser.add_argument("--quiet", action="store_true")
    parser.set_defaults(func=_cmd)


def register_inspect(demo_subparsers) -> None:
    """The hook for ``wiseft demo``: ``register_inspect(demo_sub)`` adds ``wiseft demo inspect``."""
    add_arguments(demo_subparsers.add_parser(
        "inspect", help="pointing game, flips and loss landscape of the demo pair (assets/demo/inspection)"))


if __name__ == "__main__":
    from wiseft_core.errors import WiseftError

    parser = argparse.ArgumentParser(prog="python -m wiseft_core.demo.inspection", description=__doc__.split("\n")[0])
    add_arguments(parser)
    parsed = parser.parse_args()
    try:
        raise SystemExit(parsed.func(parsed))
    except WiseftError as err:  # the CLI's contract: one line, exit 2
        print(f"wiseft: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
