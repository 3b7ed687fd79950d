"""Small non-Streamlit helpers the app needs: launch options, curve tables, the reproducing command.

They live here (not in the pages) so they can be unit-tested without a Streamlit runtime.
"""

from __future__ import annotations

import argparse
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from wiseft_core.results import load_paper_curves, paper_rows_as_sweep, read_sweep_csv, summary_table

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = REPO_ROOT / "assets" / "demo"
DEMO_ZEROSHOT = DEMO_DIR / "zeroshot.safetensors"
DEMO_FINETUNED = DEMO_DIR / "finetuned.safetensors"
DEMO_FINETUNED_LINEAR = DEMO_DIR / "finetuned_linear.safetensors"
DEMO_SWEEP = DEMO_DIR / "sweep.csv"
DEMO_SAMPLES = DEMO_DIR / "samples"
# Columns of a summary row that are not accuracies of a single dataset.
SUMMARY_KEYS = ("source", "model", "finetuning", "ensemble", "alpha", "reference", "avg_shifts", "avg_ref_shifts")


@dataclass(frozen=True)
class LaunchOptions:
    """What a presenter passed after ``--`` in ``streamlit run app.py -- --zeroshot A --finetuned B``."""

    zeroshot: str | None = None
    finetuned: str | None = None
    device: str | None = None
    threads: int | None = None


def parse_launch_args(argv: Sequence[str]) -> LaunchOptions:
    """Parse the app's own options; unknown arguments are ignored so Streamlit's flags never break it."""
    parser = argparse.ArgumentParser(prog="app.py", add_help=False)
    parser.add_argument("--zeroshot")
    parser.add_argument("--finetuned")
    parser.add_argument("--device")
    parser.add_argument("--threads", type=int)
    known, _ = parser.parse_known_args(list(argv))
    return LaunchOptions(zeroshot=known.zeroshot, finetuned=known.finetuned, device=known.device,
                         threads=known.threads)


def default_threads(cpu_count: int | None = None) -> int:
    """CPU threads per prediction in the app: half the cores (at least one).

    An app server shares its cores between viewers (and whatever else runs): when more intra-op
    threads than free cores spin against each other a forward gets many times slower (measured on
    our 2-core machine with one core busy: ViT-B/32 0.39 s with 1 thread, 1.9 s with 2; the demo pair
    2.7 ms vs 220 ms). ``--threads N`` overrides it.
    """
    import os

    return max(1, (cpu_count if cpu_count is not None else os.cpu_count() or 2) // 2)


def demo_pair_available() -> bool:
    return DEMO_ZEROSHOT.is_file() and DEMO_FINETUNED.is_file()


def tag_rows(rows: list[dict], source: str) -> list[dict]:
    """Summary rows with a ``source`` column, so several sources can share one figure and table."""
    return [{"source": source, **row} for row in rows]


def paper_curve_rows() -> list[dict]:
    """The paper's per-alpha tables as summary rows (reference = ImageNet, shifts by their names)."""
    return tag_rows(summary_table(paper_rows_as_sweep(load_paper_curves())), "paper")


def sweep_curve_rows(source, label: str) -> list[dict]:
    """A ``wiseft sweep`` CSV (path, bytes or upload) as summary rows; raises WiseftError on a bad file."""
    return tag_rows(summary_table(read_sweep_csv(source)), label)


def shift_columns(rows: Sequence[dict]) -> list[str]:
    """The per-dataset shift columns present in summary rows, in first-seen order."""
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            if key not in SUMMARY_KEYS:
                seen.setdefault(key, None)
    return list(seen)


def interpolate_command(zeroshot: str, finetuned: str, alpha: float,
                        block_alphas: Sequence[tuple[str, float]] = (), out: str = "merged.safetensors") -> str:
    """The ``wiseft interpolate`` command line that reproduces a merge made in the app."""
    parts = ["wiseft", "interpolate", "--zeroshot", str(zeroshot), "--finetuned", str(finetuned),
             "--alpha", f"{alpha:g}"]
    for pattern, value in block_alphas:
        parts += ["--block-alpha", f"{pattern}={value:g}"]
    parts += ["--out", out]
    return shlex.join(parts)


def timed(fn: Callable[[], object], repeats: int = 1) -> tuple[object, float]:
    """Run ``fn`` ``repeats`` times; return the last result and the best wall time in milliseconds.

    The best of a few runs is what the app shows next to each ensemble mode: it is the cost of the
    computation, not of whatever else the 2-core machine was doing at that moment.
    """
    best = float("inf")
    result = None
    for _ in range(max(repeats, 1)):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return result, best * 1000.0


def zeroshot_command(model_name: str, pretrained: str, templates: str, finetuned: str,
                     out: str = "zeroshot.safetensors") -> str:
    """The ``wiseft zeroshot`` command that rebuilds a zero-shot side the app built from an open_clip model.

    The class names come from the fine-tuned checkpoint; the command takes them from a text file
    (one per line) that the user writes from that checkpoint's metadata.
    """
    return shlex.join(["wiseft", "zeroshot", "--model", model_name, "--pretrained", pretrained,
                       "--classnames", "classnames.txt", "--templates", templates, "--out", out]) + \
        f"  # classnames.txt: the class names of {Path(finetuned).name}, one per line"


TINY_TEST_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
TEST_CLASSNAMES = ["circle", "square", "triangle", "plus", "ring", "diamond", "star", "bar", "crescent", "semicircle"]


def write_random_pair(out_dir: str | Path, model_name: str = "wiseft-tiny-test", model_config: dict | None = None,
                      classnames: Sequence[str] = TEST_CLASSNAMES, seed: int = 0) -> tuple[Path, Path]:
    """A random-weight zero-shot checkpoint and a perturbed "fine-tuned" one, for tests and benchmarks.

    The fine-tuned head is the zero-shot head with its classes rotated by one (plus noise on every
    weight), so the top-1 class is guaranteed to move between alpha 0 and 1. No download: the
    weights are random (``pretrained=None``). ``model_config`` defaults to a tiny ViT for fast
    tests; pass ``model_config=None`` with a real name (``ViT-B-32``) for its true size.
    """
    import open_clip
    import torch

    from wiseft_core.checkpoints import CheckpointMeta, save_classifier
    from wiseft_core.models import create_clip
    from wiseft_core.zeroshot import load_templates, zero_shot_classifier

    if model_config is None and model_name == "wiseft-tiny-test":
        model_config = TINY_TEST_CONFIG
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    clip_model, config, preprocessing = create_clip(model_name, None, seed=seed, model_config=model_config)
    classifier = zero_shot_classifier(clip_model, open_clip.get_tokenizer(model_name), list(classnames),
                                      load_templates("simple"))
    meta = CheckpointMeta(model_name=model_name, model_config=config, pretrained=None, classnames=list(classnames),
                          templates="simple", preprocessing=preprocessing)
    zeroshot, finetuned = out_dir / "zeroshot.safetensors", out_dir / "finetuned.safetensors"
    save_classifier(zeroshot, classifier, meta)
    generator = torch.Generator().manual_seed(seed + 1)
    theta = {}
    for name, tensor in classifier.state_dict().items():
        if name.startswith("head.weight"):
            tensor = tensor.roll(1, dims=0)
        if tensor.is_floating_point():
            tensor = tensor + 0.02 * tensor.std().nan_to_num(0.0) * torch.randn(tensor.shape, generator=generator)
        theta[name] = tensor
    save_classifier(finetuned, theta, meta)
    return zeroshot, finetuned


@dataclass(frozen=True)
class GallerySample:
    """A shipped sample image: its file, the distribution it comes from and its true class (if known)."""

    path: Path
    distribution: str
    label: str | None

    @property
    def key(self) -> str:
        return self.path.stem


def _words(text: str) -> str:
    return " ".join(text.replace("_", " ").replace("-", " ").lower().split())


def gallery_samples(samples_dir: str | Path, classnames: Sequence[str]) -> dict[str, list[GallerySample]]:
    """Samples grouped by distribution, from ``<dist>/<anything>.png`` or ``<dist>_<anything>.png`` files.

    The true label is the longest class name that appears in the file name (``photo_small_circle_0.png``
    -> "small circle"), so the gallery needs no index file and survives renaming conventions.
    """
    from wiseft_core.demo.world import DISTRIBUTIONS

    samples_dir = Path(samples_dir)
    if not samples_dir.is_dir():
        return {}
    by_length = sorted(classnames, key=len, reverse=True)
    groups: dict[str, list[GallerySample]] = {}
    for path in sorted(samples_dir.rglob("*.png")):
        relative = _words(str(path.relative_to(samples_dir).with_suffix("")).replace("/", " "))
        first = relative.split(" ")[0]
        distribution = path.parent.name if path.parent != samples_dir else first
        if distribution not in DISTRIBUTIONS and first in DISTRIBUTIONS:
            distribution = first
        padded = f" {relative} "
        label = next((c for c in by_length if f" {_words(c)} " in padded), None)
        groups.setdefault(distribution, []).append(GallerySample(path, distribution, label))
    order = {d: i for i, d in enumerate(DISTRIBUTIONS)}
    return dict(sorted(groups.items(), key=lambda item: order.get(item[0], len(order))))
