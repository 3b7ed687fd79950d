"""The numbers a talk shows: sweep and paper tables, measured ensemble costs, live predictions.

Gathered once per (pair, sweep) and cached by the caller; the slides only format them. The demo
pair's sweep is found automatically, so new demo numbers flow into the talk without code changes.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from wiseft_core.demo import assets
from wiseft_core.demo.gallery import GallerySample, gallery_samples
from wiseft_core.evaluate.curve_rows import paper_curve_rows
from wiseft_core.evaluate.results import first_run, load_paper_summary, read_sweep_csv, summary_table
from wiseft_core.serve.timer import timed

PAPER_MODEL = "CLIP ViT-L/14@336px"
TABLE1_ROWS = (
    "Zero-shot [82] (numbers from the CLIP paper)", "Fine-tuned LC [82] (CLIP paper)", "Zero-shot (PyTorch)",
    "Fine-tuned LC (ours)", "Fine-tuned E2E (ours)", "WiSE-FT LC, α=0.5", "WiSE-FT LC, optimal α",
    "WiSE-FT E2E, α=0.5", "WiSE-FT E2E, optimal α",
)
LIVE_PER_DISTRIBUTION = 2
TIMING_REPEATS = 15
NOISY_SPREAD = 1.5  # quartile ratio (high / low) above which a machine is too noisy to tell the ratio


@dataclass(frozen=True)
class Costs:
    """Median wall times (ms) on one batch over interleaved rounds: the merged model's forward, both
    endpoints' forwards, one merge; ``ratios`` holds each round's output/weight ratio (same moment, same load)."""

    weights_ms: float
    outputs_ms: float
    merge_ms: float
    batch: int
    device: str
    params: int
    ratios: tuple[float, ...] = ()

    @property
    def ratio(self) -> float:
        if self.ratios:
            return float(np.median(self.ratios))
        return self.outputs_ms / self.weights_ms if self.weights_ms > 0 else float("nan")

    @property
    def ratio_quartiles(self) -> tuple[float, float]:
        if not self.ratios:
            return self.ratio, self.ratio
        low, high = np.percentile(self.ratios, [25, 75])
        return float(low), float(high)

    @property
    def too_noisy(self) -> bool:
        """True when the rounds disagree too much to say the output-space ensemble costs more."""
        low, high = self.ratio_quartiles
        return low <= 1.0 or high / low > NOISY_SPREAD


@dataclass(frozen=True)
class LiveImage:
    """A gallery image the live step can show, with its distribution and true class (if known)."""

    key: str
    distribution: str
    label: str | None
    png: bytes


@dataclass
class TalkData:
    """Everything the slides need besides the words and the presenter's choices."""

    source: str  # "demo" (the demo world's sweep) or "this_pair" (an uploaded sweep) or "" (none)
    sweep: list[dict]  # summary rows (results.summary_table), empty without a sweep
    paper: list[dict]  # the paper's per-alpha summary rows (source "paper")
    table1: list[dict]  # the paper's Table 1 rows, in TABLE1_ROWS order
    gallery: dict[str, list[GallerySample]]
    classnames: list[str] = field(default_factory=list)
    model_name: str = ""
    costs: Costs | None = None
    live: list[LiveImage] = field(default_factory=list)
    live_alphas: tuple[float, ...] = ()
    live_probs: np.ndarray | None = None  # [alphas, images, classes]
    live_default: int = 0
    landscape: list = field(default_factory=list)  # wiseft_core.inspection.landscape.LandscapePath, when measured


def is_demo_pair(zeroshot_path: str | Path | None) -> bool:
    return zeroshot_path is not None and Path(zeroshot_path).resolve() == assets.DEMO_ZEROSHOT.resolve()


def sweep_rows(source) -> list[dict]:
    """A sweep CSV (path, bytes or upload) as summary rows (its first run); raises WiseftError on a bad file."""
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    return summary_table(first_run(read_sweep_csv(source)))


def paper_table1() -> list[dict]:
    by_row = {r["row"]: r for r in load_paper_summary() if r["table"] == "Table 1"}
    return [by_row[name] for name in TABLE1_ROWS if name in by_row]


def measure_costs(pair, batch, repeats: int = TIMING_REPEATS) -> Costs:
    """Time the weight-space ensemble (one merged forward) against the output-space one (two forwards + mix)."""
    from wiseft_core.files.models import count_parameters
    from wiseft_core.serve.alpha_grid import forward_logits, output_space_logits

    interpolator = pair.new_interpolator()
    merges, weights, outputs = [], [], []
    forward_logits(interpolator.model, batch)  # warm-up: first calls pay for allocations
    for _ in range(max(repeats, 1)):  # interleaved, so a busy moment slows both kinds alike
        merges.append(timed(lambda: interpolator.set_alpha(0.5))[1])
        weights.append(timed(lambda: forward_logits(interpolator.model, batch))[1])
        outputs.append(timed(lambda: output_space_logits(pair.zeroshot.model, pair.finetuned.model, batch, 0.5))[1])
    ratios = tuple(o / w for o, w in zip(outputs, weights) if w > 0)
    return Costs(float(np.median(weights)), float(np.median(outputs)), float(np.median(merges)),
                 int(batch.shape[0]), str(pair.device), count_parameters(pair.zeroshot.model), ratios)


def pick_live_image(images: list[LiveImage], alphas: tuple[float, ...], probs: np.ndarray,
                    classnames: list[str]) -> int:
    """The most telling image: a shifted one the fine-tuned model gets wrong and alpha = 0.5 gets right.

    Falls back to any image alpha = 0.5 gets right, then to the first image.
    """
    half, one = alphas.index(0.5), alphas.index(1.0)
    best, best_score = 0, -np.inf
    for i, image in enumerate(images):
        if image.label not in classnames:
            continue
        c = classnames.index(image.label)
        right_half = int(probs[half, i].argmax()) == c
        wrong_one = int(probs[one, i].argmax()) != c
        score = 2.0 * (right_half and wrong_one) + 1.0 * right_half + 0.5 * (image.distribution != "photo") \
            + float(probs[half, i, c] - probs[one, i, c])
        if score > best_score:
            best, best_score = i, score
    return best


def live_predictions(pair, gallery: dict[str, list[GallerySample]]):
    """Probabilities of a few gallery images (two per distribution) over the 21-point alpha grid."""
    from PIL import Image

    from wiseft_core.engine.predict import to_batch
    from wiseft_core.serve.alpha_grid import ALPHA_GRID, compute_alpha_grid

    images = [LiveImage(s.key, s.distribution, s.label, s.path.read_bytes())
              for samples in gallery.values() for s in samples[:LIVE_PER_DISTRIBUTION]]
    if not images:
        return [], (), None, None
    pil = [Image.open(io.BytesIO(i.png)).convert("RGB") for i in images]
    batch = to_batch(pil, pair.preprocessing, pair.device)
    grid = compute_alpha_grid(pair.new_interpolator(), batch, ALPHA_GRID)
    return images, ALPHA_GRID, grid.probs().numpy(), batch


def build_talk_data(pair=None, sweep=None, source: str = "") -> TalkData:
    """Collect the talk's numbers: ``sweep`` is a CSV (path/bytes/upload) or None; ``pair`` may be None.

    ``source`` names where the sweep comes from ("demo" or "this_pair"); without a sweep the talk
    shows the paper's numbers only.
    """
    classnames = list(pair.classnames) if pair is not None else []
    gallery = gallery_samples(assets.DEMO_SAMPLES, classnames or _demo_classnames())
    rows = sweep_rows(sweep) if sweep is not None else []
    data = TalkData(source=source if rows else "", sweep=rows, paper=paper_curve_rows(),
                    table1=paper_table1(), gallery=gallery, classnames=classnames)
    if data.source == "demo":
        data.landscape = demo_landscape()
    if pair is not None:
        data.model_name = pair.meta.model_name
        images, alphas, probs, batch = live_predictions(pair, gallery)
        if images:
            data.live, data.live_alphas, data.live_probs = images, alphas, probs
            data.live_default = pick_live_image(images, alphas, probs, classnames)
            data.costs = measure_costs(pair, batch)
    return data


def demo_landscape() -> list:
    """The demo world's loss-along-alpha paths, once ``python -m wiseft_core.demo.inspection`` has measured them."""
    from wiseft_core.errors import WiseftError
    from wiseft_core.inspection.landscape import read_csv

    path = assets.DEMO_LANDSCAPE
    try:
        return read_csv(path) if path.is_file() else []
    except WiseftError:
        return []


def _demo_classnames() -> list[str]:
    from wiseft_core.data.world import CLASSNAMES

    return list(CLASSNAMES)


def default_sweep(zeroshot_path: str | Path | None) -> tuple[Path | None, str]:
    """The sweep a pair brings by itself: the demo world's for the demo pairs, else none."""
    if is_demo_pair(zeroshot_path) and assets.DEMO_SWEEP.is_file():
        return assets.DEMO_SWEEP, "demo"
    return None, ""
