"""Classifier checkpoints: safetensors with self-describing JSON metadata.

A checkpoint carries everything needed to rebuild and use the classifier (architecture, class
names, preprocessing) and, for merges and fine-tunes, the recipe that made it. Every file is
untrusted: metadata and shapes are checked before a model is built. Pickled files (the reference
wise-ft code's, torch.save'd models) go through a restricted unpickler that runs nothing
(``safe_pickle``); only the operator's ``trust_pickle`` lets a file's own classes be unpickled.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import tempfile
import types
import warnings
import zipfile
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as safetensors_save
from torch import nn

from wiseft_core.errors import WiseftError
from wiseft_core.files.digests import file_sha256
from wiseft_core.files.models import (
    MAX_CLASSES,
    ImageClassifier,
    Preprocessing,
    build_vision_tower,
    register_model_config,
    tower_image_size,
    validate_model_config,
)

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
        """Parse and validate metadata from a file: every field is checked before anything is built from it."""
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as err:
            raise WiseftError(f"{source}: metadata is not valid JSON ({str(err)[:100]})") from None
        if not isinstance(data, dict):
            raise WiseftError(f"{source}: metadata must be a JSON object, got {type(data).__name__}")
        missing = [k for k in REQUIRED_FIELDS if k not in data]
        if missing:
            raise WiseftError(f"{source}: metadata lacks {', '.join(missing)}")
        version = data["format_version"]
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise WiseftError(f"{source}: metadata 'format_version' must be a positive integer, got {version!r}")
        if version > FORMAT_VERSION:
            raise WiseftError(
                f"{source}: format version {version} is newer than this wiseft "
                f"(reads <= {FORMAT_VERSION}); upgrade wiseft"
            )
        classnames = data["classnames"]
        if (not isinstance(classnames, list) or not classnames or len(classnames) > MAX_CLASSES
                or not all(isinstance(c, str) for c in classnames)):
            raise WiseftError(f"{source}: metadata 'classnames' must be a list of 1..{MAX_CLASSES} strings")
        templates = data.get("templates", [])
        if not isinstance(templates, str) and not (isinstance(templates, list)
                                                   and all(isinstance(t, str) for t in templates)):
            raise WiseftError(f"{source}: metadata 'templates' must be a name or a list of strings")
        for key in ("recipe", "extra"):
            if data.get(key) is not None and not isinstance(data[key], dict):
                raise WiseftError(f"{source}: metadata '{key}' must be an object")
        if not isinstance(data["model_name"], str) or not 0 < len(data["model_name"]) <= 200:
            raise WiseftError(f"{source}: metadata 'model_name' must be a short string")
        if data.get("pretrained") is not None and not isinstance(data["pretrained"], str):
            raise WiseftError(f"{source}: metadata 'pretrained' must be a string or null")
        try:
            validate_model_config(data["model_config"])
            preprocessing = Preprocessing.from_dict(data["preprocessing"])
        except WiseftError as err:
            raise WiseftError(f"{source}: {err}") from None
        tower_size = tower_image_size(data["model_config"])
        if tower_size is not None and tower_size != preprocessing.image_size:
            raise WiseftError(f"{source}: preprocessing image_size {preprocessing.image_size} differs from the "
                              f"image tower's {tower_size}")
        return cls(
            model_name=data["model_name"], model_config=data["model_config"],
            pretrained=data.get("pretrained"), classnames=list(classnames),
            templates=templates, preprocessing=preprocessing,
            recipe=data.get("recipe"), extra=data.get("extra") or {}, format_version=version,
        )

    @property
    def quick_gelu(self) -> bool:
        return bool(self.model_config.get("quick_gelu", False))


@dataclass
class LoadedClassifier:
    """A classifier in eval mode with its metadata and where it came from."""

    model: ImageClassifier
    meta: CheckpointMeta
    path: str | None = None

    @cached_property
    def sha256(self) -> str | None:
        return file_sha256(self.path) if self.path else None


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
    if path.is_dir():
        raise WiseftError(f"{path} is a folder; give a file name to write (e.g. {path / 'model.safetensors'})")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise WiseftError(f"cannot write {path}: {err.strerror or err}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_current_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException as err:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(err, OSError):
            raise WiseftError(f"cannot write {path}: {err.strerror or err}") from None
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


# ---------------------------------------------------------------------------- reading untrusted files
# Every reader checks sizes against the file before it materialises anything: a small file must not be
# able to make us allocate more than it holds.

MAX_FILE_BYTES = 16 << 30  # larger than any CLIP image classifier in fp32 (ViT-bigG/14's tower is ~7 GB)


def check_file(path: Path, label: str) -> int:
    try:
        if path.is_dir():
            raise WiseftError(f"checkpoint {label} is a folder; give the checkpoint file inside it")
        if not path.is_file():
            raise WiseftError(f"checkpoint not found: {label}")
        size = path.stat().st_size
    except OSError as err:
        raise WiseftError(f"cannot read checkpoint {label}: {err.strerror or err}") from None
    if size == 0:
        raise WiseftError(f"checkpoint {label} is an empty file")
    if size > MAX_FILE_BYTES:
        raise WiseftError(f"checkpoint {label} is {size / 2**30:.1f} GiB, more than the {MAX_FILE_BYTES >> 30} GiB "
                          "any supported classifier needs")
    return size


def _head(path: Path, label: str, count: int = 16) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(count)
    except OSError as err:
        raise WiseftError(f"cannot read checkpoint {label}: {err.strerror or err}") from None


def is_safetensors(path: Path) -> bool:
    head = _head(path, str(path), 9)
    if len(head) < 9:
        return False
    header_len = int.from_bytes(head[:8], "little")
    return head[8:9] == b"{" and 0 < header_len < path.stat().st_size


def file_kind(path: str | os.PathLike) -> str:
    """'safetensors', 'zip' (torch.save), 'pickle' (legacy torch.save or a raw pickle) or 'unknown'."""
    path = Path(path)
    if is_safetensors(path):
        return "safetensors"
    head = _head(path, str(path))
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:  # pickle PROTO opcode, protocol 2..5
        return "pickle"
    return "unknown"


def _read_meta(path: Path, label: str) -> CheckpointMeta:
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as err:
        raise WiseftError(f"{label}: cannot read safetensors header ({err})") from None
    if METADATA_KEY not in metadata:
        raise WiseftError(
            f"{label} is a safetensors file without wiseft metadata; save it with `wiseft zeroshot` or "
            "load it as a plain state dict next to a checkpoint that has metadata"
        )
    return CheckpointMeta.from_json(metadata[METADATA_KEY], source=label)


def read_meta(path: str | os.PathLike) -> CheckpointMeta:
    """Read and validate only the metadata (cheap: no tensor is loaded)."""
    path = Path(path)
    check_file(path, str(path))
    if not is_safetensors(path):
        raise WiseftError(f"{path} is not a safetensors file")
    return _read_meta(path, str(path))


def safetensors_shapes(path: Path, label: str) -> dict[str, tuple[int, ...]]:
    """Shapes from the header alone (nothing is read into memory)."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            return {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        raise WiseftError(f"{label}: corrupt or truncated safetensors file ({err})") from None


def read_safetensors(path: Path, label: str) -> dict[str, torch.Tensor]:
    try:
        with safe_open(str(path), framework="pt") as handle:
            return {key: handle.get_tensor(key) for key in handle.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise WiseftError(f"{label}: corrupt or truncated safetensors file ({err})") from None


# Key prefixes of other layouts, mapped onto ours (image_encoder.*, head.*); applied in this order.
_KEY_PREFIXES = (
    ("module.", ""),  # DistributedDataParallel / DataParallel
    ("image_encoder.model.visual.", "image_encoder."),  # public wise-ft ImageClassifier
    ("classification_head.", "head."),
    ("visual.", "image_encoder."),  # a full open_clip / OpenAI CLIP state dict
)
# What wise-ft keeps of CLIP's text side after deleting its transformer: unused by an image classifier.
TEXT_LEFTOVERS = ("token_embedding.weight", "positional_embedding", "ln_final.weight", "ln_final.bias",
                  "text_projection", "logit_scale")


def normalise_keys(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map wise-ft / open_clip / DDP key layouts onto ours and drop what the classifier does not use.

    Dropped: CLIP's text side (wise-ft keeps six text tensors under ``image_encoder.model.``) and
    anything outside the image tower and the head.
    """
    out = {}
    for key, value in state_dict.items():
        for old, new in _KEY_PREFIXES:
            if key.startswith(old):
                key = new + key[len(old):]
        if key.startswith("image_encoder.model."):
            continue  # text leftovers of a wise-ft ImageEncoder
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


def _check_zip(path: Path, label: str) -> None:
    """torch.save writes uncompressed zips; a compressed entry could inflate far beyond the file's size."""
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        raise WiseftError(f"{label}: corrupt zip / torch.save file ({err})") from None
    packed = [e for e in entries if e.compress_type != zipfile.ZIP_STORED]
    if packed:
        entry = packed[0]
        raise WiseftError(f"{label}: zip entry {entry.filename} is compressed ({entry.file_size:,} bytes from "
                          f"{entry.compress_size:,}); torch.save never compresses, so the file is refused")


def _state_dict_from(obj, label: str) -> dict[str, torch.Tensor]:
    if isinstance(obj, nn.Module):
        obj = obj.state_dict()
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WiseftError(f"{label} does not hold a state dict of tensors (found {type(obj).__name__})")
    return obj


def _unpickle_trusted(path: Path, label: str) -> object:
    """The operator's explicit opt-in: unpickle with the file's own classes (stubbed when not installed)."""
    warnings.warn(f"unpickling {label} because trust_pickle=True: this can execute code from the file", stacklevel=4)
    try:
        return torch.load(path, map_location="cpu", weights_only=False, pickle_module=_permissive_pickle)
    except Exception:  # not a torch.save file: a raw pickle, as the reference wise-ft code writes
        try:
            with open(path, "rb") as handle:
                return _PermissiveUnpickler(handle).load()
        except Exception as err:
            raise WiseftError(f"{label} cannot be unpickled ({type(err).__name__}: {str(err)[:100]})") from None


def read_torch_file(path: Path, label: str, trust_pickle: bool) -> tuple[dict[str, torch.Tensor], object]:
    """A non-safetensors file's tensors and, for pickled models, what the restricted reader learnt about them."""
    from wiseft_core.files.safe_pickle import PickledCheckpoint, RefusedGlobal, checkpoint_hints, read_pickled

    kind = file_kind(path)
    if kind == "unknown":
        raise WiseftError(f"{label} is not a checkpoint: neither a safetensors file, a torch.save file nor a pickle")
    if kind == "zip":
        _check_zip(path, label)
        try:
            # mmap: tensors stay in the file until their shapes have been checked
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            return _state_dict_from(obj, label), PickledCheckpoint({}, hints=checkpoint_hints(obj))
        except pickle.UnpicklingError:
            pass  # more than plain tensors (or malformed): the restricted reader below says which
        except Exception as err:  # any failure to parse untrusted bytes is the file's fault, not a bug
            raise WiseftError(f"{label} is not a readable torch checkpoint ({type(err).__name__}: "
                              f"{str(err).splitlines()[0][:120] if str(err) else ''})") from None
    # Objects beyond a plain state dict (a pickled model, e.g. the reference wise-ft code's), a legacy
    # torch.save stream or a raw pickle: read with the restricted unpickler, which runs nothing.
    try:
        found = read_pickled(path, label, kind)
    except RefusedGlobal:
        if not trust_pickle:
            raise
        return _state_dict_from(_unpickle_trusted(path, label), label), None
    return found.state_dict, found


# ---------------------------------------------------------------------------- building and checking

def build_classifier(meta: CheckpointMeta, device: str | torch.device | None = None) -> ImageClassifier:
    """The classifier ``meta`` describes, at fresh weights; ``device="meta"`` allocates nothing (for shape checks)."""
    validate_model_config(meta.model_config)
    register_model_config(meta.model_name, meta.model_config)
    with torch.device(device) if device is not None else contextlib.nullcontext():
        tower = build_vision_tower(meta.model_config)
        head = nn.Linear(int(meta.model_config["embed_dim"]), len(meta.classnames))
    return ImageClassifier(tower, head)


def expected_shapes(meta: CheckpointMeta) -> dict[str, tuple[int, ...]]:
    """Every tensor's shape for ``meta``'s architecture, from a model on the meta device (no memory)."""
    return {key: tuple(value.shape) for key, value in build_classifier(meta, "meta").state_dict().items()}


def _shape(value) -> tuple[int, ...]:
    return tuple(value.shape) if hasattr(value, "shape") else tuple(value)


def describe_mismatch(expected: dict, actual: dict, limit: int = 5) -> str:
    """Name the first few missing/unexpected/different-shape keys, with both shapes (tensors or shapes)."""
    problems = []
    for key in expected:
        if key not in actual:
            problems.append(f"{key} missing (expected {_shape(expected[key])})")
        elif _shape(expected[key]) != _shape(actual[key]):
            problems.append(f"{key}: {_shape(expected[key])} vs {_shape(actual[key])}")
    problems += [f"{key} unexpected {_shape(actual[key])}" for key in actual if key not in expected]
    more = f" (+{len(problems) - limit} more)" if len(problems) > limit else ""
    return "; ".join(problems[:limit]) + more


def check_shapes(shapes: dict[str, tuple[int, ...]], meta: CheckpointMeta, label: str) -> None:
    """The file's tensors must be exactly those of ``meta``'s architecture (checked before building it)."""
    expected = expected_shapes(meta)
    if set(expected) != set(shapes) or any(expected[k] != tuple(shapes[k]) for k in expected):
        raise WiseftError(f"{label} does not match {meta.model_name} with {len(meta.classnames)} classes: "
                          + describe_mismatch(expected, shapes))


def check_fits_file(tensors: dict[str, torch.Tensor], file_size: int, label: str) -> None:
    """Tensors cannot hold more data than their file: zero or overlapping strides could make a few bytes
    look like a huge model (whose architecture is then inferred from those shapes)."""
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    if total > file_size + (1 << 20):
        raise WiseftError(f"{label}: its tensors claim {total:,} bytes but the file has {file_size:,}; "
                          "overlapping or zero-stride tensors are refused")


def check_finite(tensors: dict[str, torch.Tensor], label: str) -> None:
    """NaN or Inf weights make every prediction NaN: refuse them, naming the tensor."""
    for key, value in tensors.items():
        # One reduction per tensor: any NaN/Inf makes the float64 sum non-finite; only then count them.
        if value.is_floating_point() and not torch.isfinite(value.sum(dtype=torch.float64)):
            bad = int((~torch.isfinite(value)).sum())
            if bad:
                raise WiseftError(f"{label}: tensor {key} holds {bad} NaN/Inf value(s) of {value.numel()}; "
                                  "non-finite weights are refused")


def uses_gelu_variant(meta: CheckpointMeta) -> bool:
    """ViT blocks use GELU or QuickGELU; ResNet towers use neither, so the flag does not matter there."""
    return not isinstance(meta.model_config["vision_cfg"].get("layers"), list)


def check_same_activation(meta: CheckpointMeta, other: CheckpointMeta, label: str) -> None:
    """Refuse to pair a QuickGELU tower (OpenAI CLIP) with a GELU one: the numbers would differ silently."""
    if uses_gelu_variant(meta) and meta.quick_gelu != other.quick_gelu:
        name = {True: "QuickGELU (OpenAI CLIP)", False: "GELU"}
        raise WiseftError(f"{label} uses {name[meta.quick_gelu]} but the other checkpoint uses "
                          f"{name[other.quick_gelu]}; a pair must share its activation (rebuild the zero-shot "
                          "side from the same source)")


__all__ = [
    "CheckpointMeta", "LoadedClassifier", "build_classifier", "check_finite", "check_shapes", "checkpoint_bytes",
    "describe_mismatch", "expected_shapes", "file_kind", "file_sha256",
    "normalise_keys", "read_meta", "save_classifier",
]
