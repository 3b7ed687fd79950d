"""Model sources and the classifier WiSE-FT interpolates.

A classifier is an open_clip image tower followed by a linear head on L2-normalised features
(the paper's construction, appendix D.1). Model sources are named the way open_clip names them
(`ViT-B-32` + `openai`), plus `none` for random weights and local weight files.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import re
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import open_clip
import torch
import torch.nn.functional as F
from open_clip.model import _build_vision_tower
from torch import nn

from wiseft_core.errors import WiseftError

RANDOM_WEIGHTS = ("none", "random", "")


# Bounds on what a checkpoint may ask for. A few bytes of metadata must not be able to make us allocate
# gigabytes (an image size of 10^6 is a 10^12-pixel tensor), so every size is checked before use.
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 8, 1024
INTERPOLATIONS = ("bicubic", "bilinear", "random")  # what open_clip.image_transform accepts
RESIZE_MODES = ("shortest", "longest", "squash")
MAX_CLASSES = 100_000  # widest head we build (ImageNet-21k has 21,841 classes)
MAX_WIDTH, MAX_LAYERS, MAX_EMBED_DIM = 8192, 128, 16384
# open_clip builds some parts eagerly in numpy/CPU memory even on the meta device (the sin-cos positional
# embedding): their cost is computed from the config and refused above this, before anything is built.
MAX_EAGER_BYTES = 128 << 20
SINCOS_BYTES_PER_VALUE = 20  # float64 grid and sin/cos halves, concatenation, then a float32 copy
POS_EMBED_TYPES = ("learnable", "sin_cos_2d")
# Keyword arguments a config may pass to the tower's norm / activation layers (never device or dtype).
LAYER_KWARGS = {"norm_kwargs": ("eps", "elementwise_affine", "bias"), "act_kwargs": ("approximate", "inplace")}
MAX_POOLER_QUERIES = 4096


def _bounded_int(value, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise WiseftError(f"{name} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise WiseftError(f"{name} = {value} is outside [{low}, {high}]")
    return value


def _bounded_float(value, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise WiseftError(f"{name} must be a finite number, got {value!r}")
    if not low <= value <= high:
        raise WiseftError(f"{name} = {value} is outside [{low}, {high}]")
    return float(value)


@dataclass(frozen=True)
class Preprocessing:
    """How images become tensors; stored in every checkpoint so a classifier is self-describing.

    Values are validated on construction: they come from files anyone can write.
    """

    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bicubic"
    resize_mode: str = "shortest"

    def __post_init__(self) -> None:
        _bounded_int(self.image_size, "preprocessing image_size", MIN_IMAGE_SIZE, MAX_IMAGE_SIZE)
        for name, values, low, high in (("mean", self.mean, -10.0, 10.0), ("std", self.std, 1e-3, 10.0)):
            if not isinstance(values, (tuple, list)) or len(values) != 3:
                raise WiseftError(f"preprocessing {name} must hold 3 numbers (R, G, B), got {values!r}")
            for value in values:
                _bounded_float(value, f"preprocessing {name}", low, high)
        if self.interpolation not in INTERPOLATIONS:
            raise WiseftError(f"preprocessing interpolation {self.interpolation!r} is not one of "
                              f"{', '.join(INTERPOLATIONS)}")
        if self.resize_mode not in RESIZE_MODES:
            raise WiseftError(f"preprocessing resize_mode {self.resize_mode!r} is not one of {', '.join(RESIZE_MODES)}")

    def eval_transform(self) -> Callable:
        """open_clip's evaluation transform: resize, centre crop, to tensor, normalise."""
        return open_clip.image_transform(
            self.image_size, is_train=False, mean=self.mean, std=self.std,
            interpolation=self.interpolation, resize_mode=self.resize_mode,
        )

    def train_transform(self) -> Callable:
        """CLIP's training augmentation (RandomResizedCrop scale 0.9-1.0, as open_clip trains)."""
        return open_clip.image_transform(
            self.image_size, is_train=True, mean=self.mean, std=self.std, interpolation=self.interpolation,
        )

    def to_dict(self) -> dict:
        return {"image_size": self.image_size, "mean": list(self.mean), "std": list(self.std),
                "interpolation": self.interpolation, "resize_mode": self.resize_mode}

    @classmethod
    def from_dict(cls, data: dict) -> Preprocessing:
        if not isinstance(data, dict) or "image_size" not in data or "mean" not in data or "std" not in data:
            raise WiseftError(f"preprocessing metadata is incomplete or malformed: {str(data)[:200]} "
                              "(needs image_size, mean, std)")
        mean, std = data["mean"], data["std"]
        return cls(
            image_size=data["image_size"],
            mean=tuple(mean) if isinstance(mean, list) else mean,
            std=tuple(std) if isinstance(std, list) else std,
            interpolation=data.get("interpolation", "bicubic"),
            resize_mode=data.get("resize_mode", "shortest"),
        )

    @classmethod
    def of_model(cls, clip_model: nn.Module) -> Preprocessing:
        cfg = open_clip.get_model_preprocess_cfg(clip_model)
        size = cfg["size"]
        return cls(
            image_size=int(size[0] if isinstance(size, (tuple, list)) else size),
            mean=tuple(cfg["mean"]), std=tuple(cfg["std"]),
            interpolation=cfg.get("interpolation", "bicubic"), resize_mode=cfg.get("resize_mode", "shortest"),
        )


class ImageClassifier(nn.Module):
    """Image tower + linear head on normalised features; the object whose weights WiSE-FT mixes."""

    def __init__(self, image_encoder: nn.Module, head: nn.Linear):
        super().__init__()
        self.image_encoder = image_encoder
        self.head = head

    @property
    def num_classes(self) -> int:
        return self.head.out_features

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised image features: the head's input (and what a linear-probe cache stores)."""
        return F.normalize(self.image_encoder(images), dim=-1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


_SAFE_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,199}")


def register_model_config(model_name: str, model_config: dict) -> None:
    """Make open_clip know `model_name` (e.g. the demo world's `demo-clip`) from its full config.

    Through open_clip's public hook: the config is written as ``<name>.json`` to a private folder that
    ``open_clip.add_model_config`` reads at once; the folder is removed straight away (open_clip keeps the
    configs it has read), so a killed server leaves nothing behind. A name open_clip already knows keeps
    its config; a name that is not a plain file name (it comes from a checkpoint anyone can write) is
    not registered.
    """
    if open_clip.get_model_config(model_name) is not None or not _SAFE_MODEL_NAME.fullmatch(model_name):
        return
    with tempfile.TemporaryDirectory(prefix="wiseft-model-configs-") as folder:
        path = Path(folder) / f"{model_name}.json"
        path.write_text(json.dumps(model_config), encoding="utf-8")
        open_clip.add_model_config(path)


def model_config_of(model_name: str) -> dict:
    cfg = open_clip.get_model_config(model_name)
    if cfg is None:
        raise WiseftError(
            f"unknown open_clip model {model_name!r}; see `open_clip.list_models()` (e.g. ViT-B-32, ViT-S-32, RN50)"
        )
    return copy.deepcopy(cfg)


def validate_model_config(model_config) -> None:
    """Refuse configs that are malformed or would build absurdly large towers, before building anything.

    Only open_clip's own towers are accepted (ViT, and ModifiedResNet when ``layers`` is a list of four):
    timm and Hugging Face towers could fetch code or weights from the network.
    """
    if not isinstance(model_config, dict):
        raise WiseftError(f"model_config must be an object, got {type(model_config).__name__}")
    vision = model_config.get("vision_cfg")
    if not isinstance(vision, dict):
        raise WiseftError(f"model_config 'vision_cfg' must be an object, got {type(vision).__name__}")
    _bounded_int(model_config.get("embed_dim"), "model_config embed_dim", 1, MAX_EMBED_DIM)
    if not isinstance(model_config.get("quick_gelu", False), bool):
        raise WiseftError("model_config 'quick_gelu' must be true or false")
    foreign = [k for k in vision if k.startswith(("timm_", "hf_")) and vision[k]]
    if foreign:
        raise WiseftError(f"vision_cfg {foreign[0]!r}: only open_clip's ViT and ModifiedResNet towers are supported")
    for key, value in vision.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise WiseftError(f"vision_cfg {key} must be finite, got {value}")
    layers = vision.get("layers")
    if isinstance(layers, list):
        if len(layers) != 4:
            raise WiseftError(f"vision_cfg layers of a ResNet must list 4 stages, got {layers!r}")
        for count in layers:
            _bounded_int(count, "vision_cfg layers (per ResNet stage)", 1, MAX_LAYERS)
    else:
        _bounded_int(layers, "vision_cfg layers", 1, MAX_LAYERS)
    width = _bounded_int(vision.get("width"), "vision_cfg width", 1, MAX_WIDTH)
    size = vision.get("image_size")
    for side in size if isinstance(size, list) and len(size) == 2 else [size]:
        _bounded_int(side, "vision_cfg image_size", MIN_IMAGE_SIZE, MAX_IMAGE_SIZE)
    if not isinstance(layers, list):
        _bounded_int(vision.get("patch_size"), "vision_cfg patch_size", 1, min(_sides(size)))
    if "head_width" in vision:
        _bounded_int(vision["head_width"], "vision_cfg head_width", 1, width * 32)
    if "mlp_ratio" in vision:
        _bounded_float(vision["mlp_ratio"], "vision_cfg mlp_ratio", 0.01, 16.0)
    if not isinstance(layers, list):
        _check_eager_options(vision, width, _sides(size), vision["patch_size"])


def _check_eager_options(vision: dict, width: int, sides: list[int], patch: int) -> None:
    """Options open_clip turns into memory at construction time, bounded from the config alone.

    The meta device spares parameters, not numpy: a sin-cos embedding is computed in full whatever
    the device, so a 1 KB config could ask for gigabytes.
    """
    kind = vision.get("pos_embed_type", "learnable")
    if kind not in POS_EMBED_TYPES:
        raise WiseftError(f"vision_cfg pos_embed_type {kind!r} is not one of {', '.join(POS_EMBED_TYPES)}")
    if kind == "sin_cos_2d":
        if len(set(sides)) != 1:
            raise WiseftError(f"vision_cfg pos_embed_type 'sin_cos_2d' needs a square image_size, got {sides}")
        cost = ((sides[0] // patch) ** 2 + 1) * width * SINCOS_BYTES_PER_VALUE
        if cost > MAX_EAGER_BYTES:
            raise WiseftError(f"vision_cfg pos_embed_type 'sin_cos_2d' at image_size {sides[0]}, patch_size {patch}, "
                              f"width {width} would take {cost / 2**20:,.0f} MiB to build (limit "
                              f"{MAX_EAGER_BYTES >> 20} MiB): refused before building")
    for key, allowed in LAYER_KWARGS.items():
        extra = vision.get(key)
        if extra is None:
            continue
        if not isinstance(extra, dict) or any(name not in allowed for name in extra):
            raise WiseftError(f"vision_cfg {key} may only set {', '.join(allowed)}, got {extra!r}")
    if "attn_pooler_queries" in vision:
        _bounded_int(vision["attn_pooler_queries"], "vision_cfg attn_pooler_queries", 1, MAX_POOLER_QUERIES)
    if "patch_dropout" in vision:
        _bounded_float(vision["patch_dropout"], "vision_cfg patch_dropout", 0.0, 0.99)


def _sides(size) -> list[int]:
    return list(size) if isinstance(size, list) else [size]


def tower_image_size(model_config: dict) -> int | None:
    """The square input size the tower was built for (None for non-square towers)."""
    size = model_config["vision_cfg"].get("image_size")
    return size if isinstance(size, int) else None


def build_vision_tower(model_config: dict) -> nn.Module:
    """Build only the image tower from an open_clip model config (the text tower is not needed)."""
    validate_model_config(model_config)
    try:
        return _build_vision_tower(
            model_config["embed_dim"], model_config["vision_cfg"], quick_gelu=model_config.get("quick_gelu", False)
        )
    except Exception as err:  # the config comes from a file: any failure of open_clip's builder is the file's fault
        raise WiseftError(f"model config cannot build an open_clip image tower: {type(err).__name__}: {err}") from None


def _pretrained_hint(model_name: str, pretrained: str) -> str:
    tags = open_clip.list_pretrained_tags_by_model(model_name)
    shown = ", ".join(tags[:6]) + (", ..." if len(tags) > 6 else "") if tags else "-"
    return (
        f"could not load pretrained weights {model_name}/{pretrained}: this machine seems to be offline or the tag "
        f"is unknown (tags for {model_name}: {shown}). "
        f"Download them once online (python -c \"import open_clip; open_clip.create_model('{model_name}', "
        f"pretrained='{pretrained}')\") or pass --pretrained /path/to/weights.bin|.safetensors"
    )


def hub_reachable(host: str = "huggingface.co", timeout: float = 3.0) -> bool:
    """A quick connectivity probe so an offline machine fails in seconds, not after a minute of retries."""
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def _use_cache_only() -> None:
    """Offline: let huggingface_hub serve already-downloaded weights from its cache without retrying."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        import huggingface_hub.constants as hub_constants

        hub_constants.HF_HUB_OFFLINE = True
    except ImportError:
        pass


def create_clip(
    model_name: str,
    pretrained: str | None,
    seed: int | None = None,
    model_config: dict | None = None,
) -> tuple[nn.Module, dict, Preprocessing]:
    """Create a full open_clip CLIP model (both towers: the text tower builds zero-shot heads).

    ``pretrained`` is an open_clip tag (needs the network once), a local weights file, or
    None/'none' for random weights seeded by ``seed``. Returns the model in eval mode, its
    effective config (what a checkpoint stores) and its preprocessing.
    """
    if model_config is not None:
        register_model_config(model_name, model_config)
    config = model_config_of(model_name)
    kwargs = {}
    if pretrained is None or pretrained.lower() in RANDOM_WEIGHTS:
        pretrained = None
        torch.manual_seed(0 if seed is None else seed)
    elif os.path.exists(pretrained):
        pass
    elif os.sep in pretrained or pretrained.endswith((".pt", ".bin", ".safetensors", ".pth")):
        raise WiseftError(f"pretrained weights file not found: {pretrained}")
    else:
        tag_cfg = open_clip.get_pretrained_cfg(model_name, pretrained)
        if not tag_cfg:
            raise WiseftError(_pretrained_hint(model_name, pretrained))
        if tag_cfg.get("quick_gelu"):
            config["quick_gelu"] = True
        if not hub_reachable():
            _use_cache_only()
    if config.get("quick_gelu"):
        kwargs["force_quick_gelu"] = True
    for noisy in ("", "huggingface_hub", "huggingface_hub.utils._http"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    try:
        model = open_clip.create_model(model_name, pretrained=pretrained, **kwargs)
    except WiseftError:
        raise
    except Exception as err:  # network, hub and file-format failures all surface here
        if pretrained and os.path.exists(pretrained):
            raise WiseftError(f"cannot load weights file {pretrained} into {model_name}: {err}") from None
        raise WiseftError(_pretrained_hint(model_name, str(pretrained)) + f" [{type(err).__name__}]") from None
    model.eval()
    return model, config, Preprocessing.of_model(model)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
