"""Classifier checkpoints: safetensors with self-describing JSON metadata.

A checkpoint carries everything needed to rebuild and use the classifier (architecture, class
names, preprocessing) and, for merges and fine-tunes, the recipe that made it. Loading never
unpickles unless the caller opts in with ``trust_pickle`` (the public wise-ft code saves whole
pickled models; plain state dicts load with ``weights_only=True``).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import tempfile
import types
import warnings
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as safetensors_save
from torch import nn

from wiseft_core.errors import WiseftError
from wiseft_core.models import ImageClassifier, Preprocessing, build_vision_tower, register_model_config

FORMAT_VERSION = 1
METADATA_KEY = "wiseft"
REQUIRED_FIELDS = ("format_version", "model_name", "model_config", "classnames", "preprocessing")


@dataclass
class CheckpointMeta:
    """What a classifier checkpoint says about itself (stored as JSON in the safetensors header)."""

    model_name: str
    model_config: dict
    pretrained: str | None
    classnames: list[str]
    templates: str | list[str]
    preprocessing: Preprocessing
    recipe: dict | None = None
    extra: dict = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        data = asdict(self)
        data["preprocessing"] = self.preprocessing.to_dict()
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str = "checkpoint") -> CheckpointMeta:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise WiseftError(f"{source}: metadata is not valid JSON ({err})") from None
        missing = [k for k in REQUIRED_FIELDS if k not in data]
        if missing:
            raise WiseftError(f"{source}: metadata lacks {', '.join(missing)}")
        if data["format_version"] > FORMAT_VERSION:
            raise WiseftError(
                f"{source}: format version {data['format_version']} is newer than this wiseft "
                f"(reads <= {FORMAT_VERSION}); upgrade wiseft"
            )
        if not isinstance(data["classnames"], list) or not data["classnames"]:
            raise WiseftError(f"{source}: metadata 'classnames' must be a non-empty list")
        if not isinstance(data["model_config"], dict) or "vision_cfg" not in data["model_config"]:
            raise WiseftError(f"{source}: metadata 'model_config' must be an open_clip config with 'vision_cfg'")
        return cls(
            model_name=str(data["model_name"]), model_config=data["model_config"],
            pretrained=data.get("pretrained"), classnames=[str(c) for c in data["classnames"]],
            templates=data.get("templates", []), preprocessing=Preprocessing.from_dict(data["preprocessing"]),
            recipe=data.get("recipe"), extra=data.get("extra") or {}, format_version=int(data["format_version"]),
        )


@dataclass
class LoadedClassifier:
    """A classifier in eval mode with its metadata and where it came from."""

    model: ImageClassifier
    meta: CheckpointMeta
    path: str | None = None

    @cached_property
    def sha256(self) -> str | None:
        return file_sha256(self.path) if self.path else None


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def state_dict_of(classifier_or_state_dict: nn.Module | dict) -> dict[str, torch.Tensor]:
    if isinstance(classifier_or_state_dict, nn.Module):
        return classifier_or_state_dict.state_dict()
    return dict(classifier_or_state_dict)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomically(path: str | os.PathLike, payload: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then rename: a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_current_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def checkpoint_bytes(
    classifier_or_state_dict: nn.Module | dict, meta: CheckpointMeta, dtype: torch.dtype | None = None
) -> bytes:
    """Serialise to safetensors bytes (used for files and for the app's download button)."""
    tensors = {}
    for name, tensor in state_dict_of(classifier_or_state_dict).items():
        tensor = tensor.detach().cpu()
        if dtype is not None and tensor.is_floating_point():
            tensor = tensor.to(dtype)
        tensors[name] = tensor.contiguous().clone()  # clone: live weights may be views of one buffer
    meta_json = meta.to_json()
    return safetensors_save(tensors, metadata={METADATA_KEY: meta_json})


def save_classifier(
    path: str | os.PathLike,
    classifier_or_state_dict: nn.Module | dict,
    meta: CheckpointMeta,
    dtype: torch.dtype | None = None,
) -> None:
    """Save a classifier as safetensors (optionally in fp16 to halve the size; loading restores fp32)."""
    write_atomically(path, checkpoint_bytes(classifier_or_state_dict, meta, dtype))


def _is_safetensors(path: Path) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(9)
    if len(head) < 9:
        return False
    header_len = int.from_bytes(head[:8], "little")
    return head[8:9] == b"{" and 0 < header_len < path.stat().st_size


def read_meta(path: str | os.PathLike) -> CheckpointMeta:
    """Read and validate only the metadata (cheap: no tensor is loaded)."""
    path = Path(path)
    if not path.is_file():
        raise WiseftError(f"checkpoint not found: {path}")
    if not _is_safetensors(path):
        raise WiseftError(f"{path} is not a safetensors file")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as err:
        raise WiseftError(f"{path}: cannot read safetensors header ({err})") from None
    if METADATA_KEY not in metadata:
        raise WiseftError(
            f"{path} is a safetensors file without wiseft metadata; save it with `wiseft zeroshot` or "
            "load it as a plain state dict next to a checkpoint that has metadata"
        )
    return CheckpointMeta.from_json(metadata[METADATA_KEY], source=str(path))


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        with safe_open(str(path), framework="pt") as handle:
            return {key: handle.get_tensor(key) for key in handle.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        raise WiseftError(f"{path}: corrupt or truncated safetensors file ({err})") from None


# Key prefixes of other layouts, mapped onto ours (image_encoder.*, head.*).
_KEY_PREFIXES = (
    ("image_encoder.model.visual.", "image_encoder."),  # public wise-ft ImageClassifier
    ("classification_head.", "head."),
    ("module.", ""),  # DistributedDataParallel
    ("visual.", "image_encoder."),  # a full open_clip CLIP state dict
)


def normalise_keys(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map wise-ft / open_clip / DDP key layouts onto ours and drop what the classifier does not use."""
    out = {}
    for key, value in state_dict.items():
        for old, new in _KEY_PREFIXES:
            if key.startswith(old):
                key = new + key[len(old):]
        if key.startswith(("image_encoder.", "head.")):
            out[key] = value
    return out


class _StubModule(nn.Module):
    """Stands in for classes of foreign code (e.g. wise-ft's `src.models`) when unpickling trusted files."""


class _PermissiveUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        try:
            return super().find_class(module, name)
        except (ImportError, AttributeError):
            return type(name, (_StubModule,), {"__module__": module})


_permissive_pickle = types.SimpleNamespace(Unpickler=_PermissiveUnpickler, load=pickle.load, __name__="pickle")


def _read_torch_file(path: Path, trust_pickle: bool) -> dict[str, torch.Tensor]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        if not trust_pickle:
            raise WiseftError(
                f"{path} contains pickled Python objects (e.g. a whole model saved by the public wise-ft code). "
                "Unpickling can run arbitrary code: pass --trust-pickle only if you trust its source"
            ) from None
        warnings.warn(f"unpickling {path} because trust_pickle=True: this can execute code from the file",
                      stacklevel=3)
        obj = torch.load(path, map_location="cpu", weights_only=False, pickle_module=_permissive_pickle)
    except (RuntimeError, OSError, EOFError, ValueError, SafetensorError) as err:
        raise WiseftError(f"{path} is neither a safetensors file nor a readable torch checkpoint ({err})") from None
    if isinstance(obj, nn.Module):
        obj = obj.state_dict()
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WiseftError(f"{path} does not hold a state dict of tensors (found {type(obj).__name__})")
    return normalise_keys(obj)


def _build_classifier(meta: CheckpointMeta) -> ImageClassifier:
    register_model_config(meta.model_name, meta.model_config)
    tower = build_vision_tower(meta.model_config)
    head = nn.Linear(int(meta.model_config["embed_dim"]), len(meta.classnames))
    return ImageClassifier(tower, head)


def describe_mismatch(expected: dict[str, torch.Tensor], actual: dict[str, torch.Tensor], limit: int = 5) -> str:
    """Name the first few missing/unexpected/different-shape keys, with both shapes."""
    problems = []
    for key in expected:
        if key not in actual:
            problems.append(f"{key} missing (expected {tuple(expected[key].shape)})")
        elif tuple(expected[key].shape) != tuple(actual[key].shape):
            problems.append(f"{key}: {tuple(expected[key].shape)} vs {tuple(actual[key].shape)}")
    problems += [f"{key} unexpected {tuple(actual[key].shape)}" for key in actual if key not in expected]
    more = f" (+{len(problems) - limit} more)" if len(problems) > limit else ""
    return "; ".join(problems[:limit]) + more


def load_classifier(
    path: str | os.PathLike,
    device: str | torch.device = "cpu",
    trust_pickle: bool = False,
    like: CheckpointMeta | None = None,
) -> LoadedClassifier:
    """Load a classifier checkpoint in fp32, eval mode, on ``device``.

    Safetensors files carry their metadata. Plain torch state dicts (and, with ``trust_pickle``,
    pickled wise-ft models) carry none, so they take ``like``'s (the other side of a pair).
    """
    path = Path(path)
    if not path.is_file():
        raise WiseftError(f"checkpoint not found: {path}")
    if path.stat().st_size == 0:
        raise WiseftError(f"checkpoint {path} is an empty file")
    if _is_safetensors(path):
        meta = read_meta(path)
        tensors = _read_safetensors(path)
    else:
        tensors = _read_torch_file(path, trust_pickle)
        if like is None:
            raise WiseftError(
                f"{path} is a plain state dict without metadata; load it as the fine-tuned side of a pair "
                "whose zero-shot side is a wiseft safetensors checkpoint"
            )
        meta = like
    model = _build_classifier(meta)
    expected = model.state_dict()
    tensors = {k: (v.float() if v.is_floating_point() else v) for k, v in tensors.items()}
    if set(expected) != set(tensors) or any(tuple(expected[k].shape) != tuple(tensors[k].shape) for k in expected):
        raise WiseftError(f"{path} does not match {meta.model_name} with {len(meta.classnames)} classes: "
                          + describe_mismatch(expected, tensors))
    model.load_state_dict(tensors, strict=True)
    model.requires_grad_(False)
    return LoadedClassifier(model=model.to(device).eval(), meta=meta, path=str(path))


def load_classifier_bytes(data: bytes, name: str = "upload", device: str | torch.device = "cpu",
                          like: CheckpointMeta | None = None) -> LoadedClassifier:
    """Load from bytes (an app upload) through a temp file, with the same validation."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(name).name
        path.write_bytes(data)
        loaded = load_classifier(path, device=device, like=like)
    loaded.path = None
    return loaded


__all__ = [
    "CheckpointMeta", "LoadedClassifier", "checkpoint_bytes", "describe_mismatch", "file_sha256",
    "load_classifier", "load_classifier_bytes", "normalise_keys", "read_meta", "save_classifier",
]
