"""Where the shipped demo world lives in this checkout (``assets/demo``): its pair, sweep and samples."""

from __future__ import annotations

from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parents[2] / "assets" / "demo"
DEMO_ZEROSHOT = DEMO_DIR / "zeroshot.safetensors"
DEMO_FINETUNED = DEMO_DIR / "finetuned.safetensors"
DEMO_FINETUNED_LINEAR = DEMO_DIR / "finetuned_linear.safetensors"
DEMO_SWEEP = DEMO_DIR / "sweep.csv"
DEMO_SAMPLES = DEMO_DIR / "samples"


def demo_pair_available() -> bool:
    """A checkout without the assets (a trimmed install) still runs the app on other pairs."""
    return DEMO_ZEROSHOT.is_file() and DEMO_FINETUNED.is_file()
