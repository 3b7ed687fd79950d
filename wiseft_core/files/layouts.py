"""Which public layout a checkpoint file is in, and the classifier it holds, as ``(tensors, meta)``.

The one reader (``reader.load_classifier``) sends every file without our metadata here. Layouts
are told apart by keys and shapes alone, nothing from the file is run: the reference wise-ft code's
(``image_encoder.model.visual.*``, pickled or state dicts), model soups (``model.visual.*``),
open_clip / OpenAI CLIP state dicts (``visual.*``), DDP (``module.*``), and Hugging Face transformers
CLIP (``vision_model.*``; safetensors or bin with its config.json). timm's CLIP fine-tunes are
recognised and refused with the reason (see ``layouts_hf.refuse_timm``).
"""

from __future__ import annotations

from pathlib import Path

import torch

from wiseft_core.errors import WiseftError
from wiseft_core.files import layouts_hf, layouts_soups, wiseft_import
from wiseft_core.files.checkpoints import (
    CheckpointMeta,
    LoadedClassifier,
    check_file,
    check_fits_file,
    check_shapes,
    is_safetensors,
    normalise_keys,
    read_safetensors,
    read_torch_file,
    safetensors_shapes,
    uses_gelu_variant,
)
from wiseft_core.files.safe_pickle import PickledCheckpoint

CLASSNAMES_SIDECAR = "classnames.txt"


def weights_in_folder(path: Path, label: str) -> Path:
    """A model folder's weights file: Hugging Face's (config.json + model.safetensors or pytorch_model.bin)."""
    weights = layouts_hf.weights_in_folder(path, label)
    check_file(weights, label)
    return weights


def read_layout(path: Path, label: str, trust_pickle: bool, like: CheckpointMeta | LoadedClassifier | None, classnames,
                activation: str | None) -> tuple[dict[str, torch.Tensor], CheckpointMeta]:
    """The classifier in a file without our metadata, in our keys, with full metadata (or ``like``'s).

    Whatever the layout, the tensors must fit in the file and match the architecture built on the meta
    device before anything is built at full size.
    """
    if is_safetensors(path):
        keys = safetensors_shapes(path, label)  # the header only: refuse before reading any tensor
        layouts_hf.refuse_timm(keys, label)
        if not layouts_hf.is_hf_clip(keys):
            raise WiseftError(f"{label} is a safetensors file without wiseft metadata and not a Hugging Face CLIP; "
                              "save it with `wiseft zeroshot` or `wiseft convert`")
        raw, found = read_safetensors(path, label), None
    else:
        raw, found = read_torch_file(path, label, trust_pickle)
    layouts_hf.refuse_timm(raw, label)
    like_meta = like.meta if isinstance(like, LoadedClassifier) else like
    if layouts_hf.is_hf_clip(raw):
        check_fits_file(raw, path.stat().st_size, label)
        tensors, meta = layouts_hf.read_hf_clip(raw, path, label, like, _classnames_for(path, classnames))
    else:
        soups = layouts_soups.is_soups_layout(raw)
        tensors = layouts_soups.soups_tensors(raw) if soups else normalise_keys(raw)
        check_fits_file(tensors, path.stat().st_size, label)
        if like_meta is None:
            meta = _meta_of_openai_layout(raw, tensors, found, path, label, classnames, activation, soups)
        else:
            meta = like_meta
            _check_pair_activation(found, like_meta, label, activation, soups)
    check_shapes({k: tuple(v.shape) for k, v in tensors.items()}, meta, label)
    return tensors, meta


def _classnames_for(path: Path, classnames):
    """Given names, else a classnames.txt beside the file (how an operator's models folder names them)."""
    sidecar = path.parent / CLASSNAMES_SIDECAR
    return str(sidecar) if classnames is None and sidecar.is_file() else classnames


def _meta_of_openai_layout(raw, tensors, found: PickledCheckpoint | None, path: Path, label: str, classnames,
                           activation: str | None, soups: bool) -> CheckpointMeta:
    if not soups and not wiseft_import.is_openai_clip(raw, found):
        raise WiseftError(
            f"{label} is a plain state dict without metadata; load it as the fine-tuned side of a pair "
            "whose zero-shot side is a wiseft safetensors checkpoint"
        )
    if soups:
        source = layouts_soups.SOURCE
    else:
        root = found.root_class if found is not None else None
        source = f"wise-ft ({root or 'state dict'})"
    meta = wiseft_import.meta_for(tensors, found, _classnames_for(path, classnames), label, source, activation,
                                  layout_quick_gelu=True if soups else None)
    if soups and "head.weight" in tensors and layouts_soups.is_their_zeroshot_head(tensors):
        meta.templates = "openai"
        meta.extra["head"] = "zero-shot: 100 x normalised text embeddings, 80 OpenAI templates (their zeroshot.py)"
    return meta


def _check_pair_activation(found: PickledCheckpoint | None, like: CheckpointMeta, label: str,
                           activation: str | None, soups: bool) -> None:
    """A fine-tuned side that says (or whose layout implies) another activation than the pair's is refused."""
    if not uses_gelu_variant(like):
        return
    said = wiseft_import.file_quick_gelu(found)
    if said is None and soups:
        said = True
    if said is None and activation:
        said = wiseft_import.ACTIVATIONS.get(activation)
    if said is not None and said != like.quick_gelu:
        name = {True: "QuickGELU", False: "GELU"}
        raise WiseftError(f"{label} uses {name[said]} (as its file or layout says) but the zero-shot side uses "
                          f"{name[like.quick_gelu]}: the numbers would differ silently; load a zero-shot side with "
                          "the same activation (or `wiseft convert` both)")


__all__ = ["read_layout", "weights_in_folder"]
