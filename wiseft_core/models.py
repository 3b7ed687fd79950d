"""Model sources and the classifier WiSE-FT interpolates.

A classifier is an open_clip image tower followed by a linear head on L2-normalised features
(the paper's construction, appendix D.1). Model sources are named the way open_clip names them
(`ViT-B-32` + `openai`), plus `none` for random weights and local weight files.
"""

from __future__ import annotations

import copy
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass

import open_clip
import torch
import torch.nn.functional as F
from open_clip.model import _build_vision_tower
from torch import nn

from wiseft_core.errors import WiseftError

RANDOM_WEIGHTS = ("none", "random", "")


@dataclass(frozen=True)
class Preprocessing:
    """How images become tensors; stored in every checkpoint so a classifier is self-describing."""

    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bicubic"
    resize_mode: str = "shortest"

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
        try:
            return cls(
                image_size=int(data["image_size"]), mean=tuple(float(x) for x in data["mean"]),
                std=tuple(float(x) for x in data["std"]),
                interpolation=str(data.get("interpolation", "bicubic")),
                resize_mode=str(data.get("resize_mode", "shortest")),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise WiseftError(f"preprocessing metadata is incomplete or malformed: {data!r} ({err})") from None

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


def register_model_config(model_name: str, model_config: dict) -> None:
    """Make open_clip know `model_name` (e.g. the demo world's `demo-clip`) from its full config."""
    from open_clip import factory

    factory._MODEL_CONFIGS.setdefault(model_name, copy.deepcopy(model_config))


def model_config_of(model_name: str) -> dict:
    cfg = open_clip.get_model_config(model_name)
    if cfg is None:
        raise WiseftError(
            f"unknown open_clip model {model_name!r}; see `open_clip.list_models()` (e.g. ViT-B-32, ViT-S-32, RN50)"
        )
    return copy.deepcopy(cfg)


def build_vision_tower(model_config: dict) -> nn.Module:
    """Build only the image tower from an open_clip model config (the text tower is not needed)."""
    try:
        return _build_vision_tower(
            model_config["embed_dim"], model_config["vision_cfg"], quick_gelu=model_config.get("quick_gelu", False)
        )
    except (KeyError, TypeError) as err:
        raise WiseftError(f"model config cannot build an open_clip image tower: {err}") from None


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
