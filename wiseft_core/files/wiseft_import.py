"""Checkpoints of the reference WiSE-FT code (mlfoundations/wise-ft), read as ours.

The reference code pickles whole ``ImageClassifier`` objects around OpenAI's ``clip.model.CLIP``
(QuickGELU, with the text transformer deleted but six text tensors left behind) and stores no
architecture name, no class names and no preprocessing. We recover what it omits the way OpenAI's
``build_model`` does: the architecture from tensor shapes (ViT: width, layers, patch size, resolution,
heads = width / 64; ModifiedResNet: blocks per stage, width, resolution), OpenAI CLIP preprocessing
(bicubic, CLIP mean/std, or the pickled transforms when present), and class names from the caller
(ImageNet's by default for a 1000-row head).
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from pathlib import Path

import open_clip
import torch

from wiseft_core.errors import WiseftError
from wiseft_core.files.checkpoints import CheckpointMeta, LoadedClassifier, load_classifier, save_classifier
from wiseft_core.files.models import Preprocessing
from wiseft_core.files.safe_pickle import PickledCheckpoint

# The OpenAI CLIP image towers; an imported file that matches one keeps its name (as open_clip's -quickgelu config).
OPENAI_MODELS = ("RN50", "RN101", "RN50x4", "RN50x16", "RN50x64", "ViT-B-32", "ViT-B-16", "ViT-L-14", "ViT-L-14-336")
OPENAI_HEAD_WIDTH = 64  # OpenAI's build_model: heads = width // 64 (ViT), width * 32 // 64 (ResNet)
IMAGENET_CLASSES = 1000


def is_openai_clip(raw_keys, info: PickledCheckpoint | None) -> bool:
    """True for files written by the reference code (or holding OpenAI's ``clip.model`` classes)."""
    if info is not None and info.root_class and info.root_class.startswith(("src.models.", "clip.model")):
        return True
    if info is not None and any(c.startswith("clip.model.") for c in info.module_classes.values()):
        return True
    return any(re.match(r"(module\.)?image_encoder\.model\.visual\.", key) for key in raw_keys)


def file_quick_gelu(info: PickledCheckpoint | None) -> bool:
    """The activation of the pickled ViT blocks; OpenAI CLIP (and so every wise-ft state dict) uses QuickGELU."""
    for key, class_path in (info.module_classes.items() if info is not None else ()):
        if key.endswith("mlp.gelu") and ".visual." in f".{key}":
            return class_path.endswith("QuickGELU")
    return True


def _count(tensors: dict[str, torch.Tensor], pattern: str) -> int:
    return len({m.group(1) for key in tensors if (m := re.match(pattern, key))})


def infer_model_config(tensors: dict[str, torch.Tensor], label: str, quick_gelu: bool = True) -> dict:
    """The open_clip config of an OpenAI-layout image tower, from shapes alone (keys ``image_encoder.*``)."""
    shape = {k[len("image_encoder."):]: tuple(v.shape) for k, v in tensors.items() if k.startswith("image_encoder.")}
    try:
        if "conv1.weight" in shape and "positional_embedding" in shape:  # VisionTransformer
            width, _, patch, _ = shape["conv1.weight"]
            layers = _count(shape, r"transformer\.resblocks\.(\d+)\.attn\.in_proj_weight")
            grid = round(math.sqrt(shape["positional_embedding"][0] - 1))
            if grid * grid + 1 != shape["positional_embedding"][0]:
                raise WiseftError(f"{label}: positional embedding {shape['positional_embedding']} is not a square grid")
            vision = {"image_size": patch * grid, "layers": layers, "width": width, "patch_size": patch,
                      "head_width": OPENAI_HEAD_WIDTH}
            mlp = shape["transformer.resblocks.0.mlp.c_fc.weight"][0]
            if mlp != 4 * width:
                vision["mlp_ratio"] = mlp / width
            embed_dim = shape["proj"][1]
        elif "attnpool.positional_embedding" in shape:  # ModifiedResNet
            layers = [_count(shape, rf"layer{stage}\.(\d+)\.") for stage in (1, 2, 3, 4)]
            width = shape["layer1.0.conv1.weight"][0]
            positions = shape["attnpool.positional_embedding"][0]
            grid = round(math.sqrt(positions - 1))
            if grid * grid + 1 != positions:
                raise WiseftError(f"{label}: attention-pool embedding {positions} is not a square grid plus one")
            vision = {"image_size": grid * 32, "layers": layers, "width": width, "head_width": OPENAI_HEAD_WIDTH,
                      "patch_size": None}
            embed_dim = shape["attnpool.c_proj.weight"][0]
        else:
            raise WiseftError(f"{label}: no OpenAI CLIP image tower found (expected visual.conv1 and a positional "
                              "embedding, or a ModifiedResNet's attnpool)")
    except (KeyError, IndexError, ValueError) as err:
        raise WiseftError(f"{label}: incomplete OpenAI CLIP image tower (missing {err})") from None
    return {"embed_dim": embed_dim, "quick_gelu": quick_gelu, "vision_cfg": vision}


def _model_name(config: dict) -> str:
    """OpenAI's name when the tower is one of theirs (as open_clip's -quickgelu config), else a descriptive one."""
    vision = config["vision_cfg"]
    for name in OPENAI_MODELS:
        known = open_clip.get_model_config(name) or {}
        kv = known.get("vision_cfg", {})
        if (known.get("embed_dim") == config["embed_dim"] and kv.get("width") == vision["width"]
                and list(kv.get("layers") if isinstance(kv.get("layers"), list) else [kv.get("layers")])
                == list(vision["layers"] if isinstance(vision["layers"], list) else [vision["layers"]])
                and kv.get("patch_size") == vision.get("patch_size") and kv.get("image_size") == vision["image_size"]
                and "mlp_ratio" not in vision):
            quick = config["quick_gelu"] and open_clip.get_model_config(f"{name}-quickgelu")
            return f"{name}-quickgelu" if quick else name
    layers = vision["layers"]
    kind = f"rn-l{'.'.join(map(str, layers))}" if isinstance(layers, list) else f"vit-l{layers}-p{vision['patch_size']}"
    return f"openai-clip-{kind}-w{vision['width']}-r{vision['image_size']}-e{config['embed_dim']}" + (
        "" if config["quick_gelu"] else "-gelu")


def _preprocessing(image_size: int, info: PickledCheckpoint | None) -> Preprocessing:
    """OpenAI CLIP's preprocessing, or the pickled val_preprocess's values when the file has them."""
    found = info.preprocess if info is not None else {}
    mean, std = found.get("mean"), found.get("std")
    mode = found.get("interpolation")
    interpolation = "bilinear" if mode in ("bilinear", 2) else "bicubic"
    try:
        return Preprocessing(image_size, tuple(mean), tuple(std), interpolation)
    except (TypeError, WiseftError):
        return Preprocessing(image_size, tuple(open_clip.OPENAI_DATASET_MEAN), tuple(open_clip.OPENAI_DATASET_STD),
                             interpolation)


def resolve_classnames(classnames: list[str] | str | None, rows: int, label: str) -> list[str]:
    """Class names for a head of ``rows`` classes: given, from ``imagenet`` / a file, or ImageNet's for 1000 rows."""
    if isinstance(classnames, str):
        from wiseft_core.train.zeroshot import load_classnames

        classnames = load_classnames(classnames)
    if classnames is None:
        if rows != IMAGENET_CLASSES:
            raise WiseftError(f"{label} has a {rows}-class head and wise-ft files store no class names: "
                              "pass --classnames FILE (one name per line, in the head's order) or put a "
                              "classnames.txt beside the file")
        from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

        classnames = list(IMAGENET_CLASSNAMES)
    if len(classnames) != rows:
        raise WiseftError(f"{label} has a {rows}-class head but {len(classnames)} class names were given")
    return list(classnames)


def meta_for(tensors: dict[str, torch.Tensor], info: PickledCheckpoint | None, classnames, label: str,
             source: str) -> CheckpointMeta:
    """Full metadata for an OpenAI-layout classifier read from a wise-ft file (keys already ``image_encoder.*``)."""
    if "head.weight" not in tensors:
        raise WiseftError(f"{label} has no classification head (classification_head.weight)")
    config = infer_model_config(tensors, label, quick_gelu=file_quick_gelu(info))
    name = _model_name(config)
    if not name.startswith("openai-clip-"):
        config = {**open_clip.get_model_config(name), "quick_gelu": config["quick_gelu"]}
    return CheckpointMeta(
        model_name=name, model_config=config, pretrained=None,
        classnames=resolve_classnames(classnames, int(tensors["head.weight"].shape[0]), label), templates=[],
        preprocessing=_preprocessing(config["vision_cfg"]["image_size"], info),
        extra={"imported_from": source},
    )


def read_as_checkpoint(path: str | Path, classnames: list[str] | str | None = None,
                       like: CheckpointMeta | None = None) -> tuple[dict[str, torch.Tensor], CheckpointMeta]:
    """Any file we read (wise-ft pickle, state dict, safetensors) as ``(state_dict, meta)``, our checkpoint's parts.

    ``save_classifier(out, *read_as_checkpoint(path))`` converts one file; ``checkpoint_bytes(...)`` serves it.
    The recipe notes the source file and its SHA-256.
    """
    loaded = load_classifier(path, like=like, classnames=classnames)
    return loaded.model.state_dict(), replace(loaded.meta, recipe=loaded.meta.recipe or import_recipe(loaded))


def import_recipe(loaded: LoadedClassifier) -> dict:
    """Where an imported checkpoint came from: its file name and SHA-256."""
    return {"method": "import", "source": loaded.meta.extra.get("imported_from", "torch file"),
            "file": Path(loaded.path).name if loaded.path else None, "sha256": loaded.sha256}


def convert_pair(zeroshot: str | Path, finetuned: str | Path, out_dir: str | Path,
                 classnames: list[str] | str | None = None) -> tuple[Path, Path]:
    """``wiseft convert``: both sides of a wise-ft pair as our safetensors, with full metadata and their sources."""
    from wiseft_core.engine.pair import make_pair

    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise WiseftError(f"--out-dir {out_dir} is a file; give a folder")
    zs = load_classifier(zeroshot, classnames=classnames)
    ft = load_classifier(finetuned, like=zs.meta, classnames=classnames)
    make_pair(zs, ft, "cpu")  # the same checks as any pair: classes, shapes, dtypes
    paths = out_dir / "zeroshot.safetensors", out_dir / "finetuned.safetensors"
    for loaded, path in zip((zs, ft), paths):
        save_classifier(path, loaded.model, replace(loaded.meta, recipe=import_recipe(loaded)))
    return paths


__all__ = ["convert_pair", "import_recipe", "infer_model_config", "is_openai_clip", "meta_for", "read_as_checkpoint",
           "resolve_classnames"]
