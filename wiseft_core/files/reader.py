"""The one reader: any checkpoint file or folder we accept, as a classifier, with nothing from the file run.

Our safetensors carry their metadata and are read directly; everything else (wise-ft pickles, plain state dicts,
model soups, Hugging Face CLIP, open_clip forks) goes through ``layouts``, recognised by keys and shapes.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from wiseft_core.errors import WiseftError
from wiseft_core.files import layouts
from wiseft_core.files.checkpoints import (
    METADATA_KEY,
    CheckpointMeta,
    LoadedClassifier,
    build_classifier,
    check_file,
    check_finite,
    check_same_activation,
    check_shapes,
    is_safetensors,
    read_meta,
    read_safetensors,
    safetensors_shapes,
)


def _has_wiseft_meta(path: Path, label: str) -> bool:
    try:
        with safe_open(str(path), framework="pt") as handle:
            return METADATA_KEY in (handle.metadata() or {})
    except (SafetensorError, OSError, ValueError) as err:
        raise WiseftError(f"{label}: cannot read safetensors header ({err})") from None


def _load(path: Path, label: str, device: str | torch.device, trust_pickle: bool,
          like: CheckpointMeta | LoadedClassifier | None, classnames: list[str] | str | None = None,
          activation: str | None = None) -> LoadedClassifier:
    like_meta = like.meta if isinstance(like, LoadedClassifier) else like
    if path.is_dir():  # a Hugging Face model folder (config.json + weights): the weights file is its source
        path = layouts.weights_in_folder(path, label)
        tensors, meta = layouts.read_layout(path, label, trust_pickle, like, classnames, activation)
    elif check_file(path, label) and is_safetensors(path) and _has_wiseft_meta(path, label):
        meta = read_meta(path)
        if like_meta is not None:
            check_same_activation(meta, like_meta, label)
        check_shapes(safetensors_shapes(path, label), meta, label)
        tensors = read_safetensors(path, label)
    else:  # another layout: wise-ft, model soups, open_clip, Hugging Face; each recognised by keys and shapes
        tensors, meta = layouts.read_layout(path, label, trust_pickle, like, classnames, activation)
    check_finite(tensors, label)
    model = build_classifier(meta)
    model.load_state_dict(tensors, strict=True)  # copies (and casts fp16/bf16 to fp32) into fresh weights
    model.requires_grad_(False)
    return LoadedClassifier(model=model.to(device).eval(), meta=meta, path=str(path))


def load_classifier(
    path: str | os.PathLike,
    device: str | torch.device = "cpu",
    trust_pickle: bool = False,
    like: CheckpointMeta | LoadedClassifier | None = None,
    classnames: list[str] | str | None = None,
    activation: str | None = None,
) -> LoadedClassifier:
    """Load a classifier checkpoint in fp32, eval mode, on ``device``.

    Safetensors files carry their metadata. Files of the reference wise-ft code (raw pickles, pickled
    or plain state dicts) are read without running code; their architecture comes from the tensor
    shapes and their class names from ``classnames`` ('imagenet', a file, a list), else a
    ``classnames.txt`` beside the file, else ImageNet's for a 1000-class head; or from ``like``, the
    other side of a pair, which plain state dicts of other code need (pass the loaded side itself so a
    head-less tower, e.g. a Hugging Face vision model, can take its head). ``activation`` ('quickgelu' or
    'gelu') names the ViT activation of a state dict whose file cannot tell (never guessed).
    Model soups files, Hugging Face CLIP folders/files and open_clip forks load too (``layouts``).
    ``trust_pickle`` unpickles other pickled models with their own classes. Metadata, shapes and sizes
    are validated before any model is built; NaN/Inf weights are refused.
    """
    path = Path(path)
    return _load(path, str(path), device, trust_pickle, like, classnames, activation)


def read_as_checkpoint(path: str | Path, classnames: list[str] | str | None = None,
                       like: CheckpointMeta | None = None,
                       activation: str | None = None) -> tuple[dict[str, torch.Tensor], CheckpointMeta]:
    """Any file we read (wise-ft pickle, state dict, safetensors) as ``(state_dict, meta)``, our checkpoint's parts.

    ``save_classifier(out, *read_as_checkpoint(path))`` converts one file; ``checkpoint_bytes(...)`` serves it.
    The recipe notes the source file and its SHA-256.
    """
    loaded = load_classifier(path, like=like, classnames=classnames, activation=activation)
    return loaded.model.state_dict(), replace(loaded.meta, recipe=loaded.meta.recipe or import_recipe(loaded))


def import_recipe(loaded: LoadedClassifier) -> dict:
    """Where an imported checkpoint came from: its file name and SHA-256."""
    return {"method": "import", "source": loaded.meta.extra.get("imported_from", "torch file"),
            "file": Path(loaded.path).name if loaded.path else None, "sha256": loaded.sha256}


__all__ = ["import_recipe", "load_classifier", "read_as_checkpoint"]
