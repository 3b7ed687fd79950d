"""The ``wiseft`` command lines that reproduce what the app did, so a merge made on screen can be remade."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path


def interpolate_command(zeroshot: str, finetuned: str, alpha: float,
                        block_alphas: Sequence[tuple[str, float]] = (), out: str = "merged.safetensors") -> str:
    """The ``wiseft interpolate`` command line that reproduces a merge made in the app."""
    parts = ["wiseft", "interpolate", "--zeroshot", str(zeroshot), "--finetuned", str(finetuned),
             "--alpha", f"{alpha:g}"]
    for pattern, value in block_alphas:
        parts += ["--block-alpha", f"{pattern}={value:g}"]
    parts += ["--out", out]
    return shlex.join(parts)


def zeroshot_command(model_name: str, pretrained: str, templates: str, finetuned: str,
                     out: str = "zeroshot.safetensors") -> str:
    """The ``wiseft zeroshot`` command that rebuilds a zero-shot side the app built from an open_clip model.

    The class names come from the fine-tuned checkpoint; the command takes them from a text file
    (one per line) that the user writes from that checkpoint's metadata.
    """
    return shlex.join(["wiseft", "zeroshot", "--model", model_name, "--pretrained", pretrained,
                       "--classnames", "classnames.txt", "--templates", templates, "--out", out]) + \
        f"  # classnames.txt: the class names of {Path(finetuned).name}, one per line"
