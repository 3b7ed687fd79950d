"""Shared builders for the data/fine-tuning/sweep tests: tiny random CLIP classifiers and tiny image folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from wiseft_core.train.zeroshot import build_zeroshot_checkpoint

TINY_NAME = "wiseft-test-tiny-vit"
TINY_CONFIG = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def tiny_zeroshot(path: Path, classnames: list[str], seed: int = 0):
    """A random tiny open_clip ViT with a zero-shot head over ``classnames``, saved to ``path``."""
    built = build_zeroshot_checkpoint(TINY_NAME, classnames, "openclip-simple", seed=seed, model_config=TINY_CONFIG,
                                      out=path)
    return built.classifier, built.meta


def write_image(path: Path, seed: int, size: int = 36, tint: int | None = None) -> Path:
    """A small random RGB PNG (deterministic from ``seed``); ``tint`` shifts the colour, so classes differ."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = rng.integers(0, 255, (size, size, 3)).astype(np.float64)
    if tint is not None:
        colour = np.random.default_rng(10_000 + tint).integers(0, 255, 3)
        pixels = 0.25 * pixels + 0.75 * colour
    Image.fromarray(pixels.astype(np.uint8)).save(path)
    return path


def image_folder(root: Path, folders: list[str], per_class: int = 2, ext: str = ".png", seed: int = 0) -> Path:
    """``root/<folder>/img_k<ext>`` for each folder (any layout: wnids, indices, ObjectNet names)."""
    for c, name in enumerate(folders):
        for k in range(per_class):
            write_image(root / name / f"img_{k}{ext}", seed=seed * 100_003 + c * 101 + k, tint=c)
    return root
