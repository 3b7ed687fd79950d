"""Checkpoints of the model soups release (Wortsman et al., ICML 2022), read as ours.

Their ``ModelWrapper`` wraps OpenAI's ``clip.model.CLIP`` (QuickGELU: their code only uses
``clip.load``) with its text transformer deleted, and ``torch.save``s its state dict:
``model.<OpenAI CLIP key>`` (``model.visual.*`` plus the text leftovers) and
``classification_head.weight/bias``. Their forward, ``encode_image`` -> L2-normalise -> head, is our
``ImageClassifier``'s, so the file maps key for key. Their zero-shot head is 100 x the normalised text
embeddings of CLIP's 80 ImageNet templates with a zero bias; a head of that form is recorded as such.
"""

from __future__ import annotations

import torch

SOURCE = "model soups"
PREFIX = "model."
TOWER_PREFIX = "model.visual."
HEAD_PREFIX = "classification_head."
ZEROSHOT_ROW_NORM = 100.0  # their zeroshot.py: logit scale 100 folded into normalised text embeddings


def is_soups_layout(keys) -> bool:
    """``model.visual.*`` beside ``classification_head.weight``: the soups ModelWrapper's state dict."""
    keys = set(keys)
    return f"{HEAD_PREFIX}weight" in keys and any(k.startswith(TOWER_PREFIX) for k in keys)


def soups_tensors(raw: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our keys: the image tower and the head; the text leftovers (``model.token_embedding`` ...) dropped."""
    out = {}
    for key, value in raw.items():
        if key.startswith(TOWER_PREFIX):
            out["image_encoder." + key[len(TOWER_PREFIX):]] = value
        elif key.startswith(HEAD_PREFIX):
            out["head." + key[len(HEAD_PREFIX):]] = value
    return out


def is_their_zeroshot_head(tensors: dict[str, torch.Tensor]) -> bool:
    """Rows of norm 100 and a zero (or absent) bias: the head their zeroshot.py builds from text embeddings."""
    weight, bias = tensors["head.weight"].float(), tensors.get("head.bias")
    norms = weight.norm(dim=-1)
    return bool(torch.allclose(norms, torch.full_like(norms, ZEROSHOT_ROW_NORM), rtol=1e-3)) and (
        bias is None or not bool(bias.any()))


__all__ = ["SOURCE", "is_soups_layout", "is_their_zeroshot_head", "soups_tensors"]
