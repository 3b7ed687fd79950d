"""Heavy one-off builds a viewer can start, one at a time per process: a merge to download (a state dict and its
bytes, about two model copies) and a zero-shot head from an open_clip model (a whole CLIP and its text tower).
A room pressing the button together then costs one build's memory, never one per viewer."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from wiseft_core.engine.blocks import BlockAlphas
from wiseft_core.files.checkpoints import checkpoint_bytes

_ONE_AT_A_TIME = threading.Lock()


def merged_checkpoint_bytes(pair, alpha: float, block_alphas: BlockAlphas = ()) -> bytes:
    """theta(alpha) of ``pair`` as safetensors bytes with its recipe (what ``wiseft interpolate`` would write)."""
    with _ONE_AT_A_TIME:
        return checkpoint_bytes(*pair.merged_checkpoint(alpha, block_alphas))


def build_zeroshot_file(model_name: str, pretrained: str, classnames: Sequence[str], templates: str,
                        out: Path) -> Path:
    """A zero-shot checkpoint for ``classnames`` written to ``out`` (kept if it is already there)."""
    from wiseft_core.files.zeroshot import build_zeroshot_checkpoint

    with _ONE_AT_A_TIME:
        if not out.is_file():
            build_zeroshot_checkpoint(model_name, list(classnames), templates, pretrained, out=out)
    return out
