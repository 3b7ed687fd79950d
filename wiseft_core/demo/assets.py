"""Where the shipped demo world lives in this checkout (``assets/demo``): its pair, sweep, samples, inspection.

The one home of shipped-file paths: pages and the talk read them here, never from the build pipeline.
"""

from __future__ import annotations

import csv
from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parents[2] / "assets" / "demo"
DEMO_ZEROSHOT = DEMO_DIR / "zeroshot.safetensors"
DEMO_FINETUNED = DEMO_DIR / "finetuned.safetensors"
DEMO_FINETUNED_LINEAR = DEMO_DIR / "finetuned_linear.safetensors"
DEMO_SWEEP = DEMO_DIR / "sweep.csv"
DEMO_SAMPLES = DEMO_DIR / "samples"
PREVIEW_FILE = "playground_preview.json"  # the Playground's stored first answer (demo/playground_preview.py)

SUBDIR = "inspection"  # what ``python -m wiseft_core.demo.inspection`` measured
POINTING_CSV, FLIPS_FILE, LANDSCAPE_CSV, INFO_FILE = ("pointing_game.csv", "flips.npz", "landscape.csv",
                                                      "inspection.json")
DEMO_INSPECTION = DEMO_DIR / SUBDIR
DEMO_FLIPS = DEMO_INSPECTION / FLIPS_FILE
DEMO_POINTING = DEMO_INSPECTION / POINTING_CSV
DEMO_LANDSCAPE = DEMO_INSPECTION / LANDSCAPE_CSV
# The three landscape paths and what each one is.
PATHS = {
    "zero-shot to fine-tuned": "the WiSE-FT path (shared zero-shot start)",
    "fine-tune seeds 0 and 1": "two fine-tunes of the same zero-shot model, different data order",
    "pretraining seeds 0 and 1": "fine-tunes of two CLIPs pretrained from different seeds",
}


def demo_pair_available() -> bool:
    """A checkout without the assets (a trimmed install) still runs the app on other pairs."""
    return DEMO_ZEROSHOT.is_file() and DEMO_FINETUNED.is_file()


def read_pointing(path: str | Path = DEMO_POINTING) -> list[dict]:
    """``pointing_game.csv`` rows with numbers as floats (empty cells as None)."""

    def number(value: str):
        return float(value) if value not in ("", None) else None

    with Path(path).open(newline="", encoding="utf-8") as handle:
        return [{k: (v if k == "distribution" else number(v)) for k, v in row.items()}
                for row in csv.DictReader(handle)]
