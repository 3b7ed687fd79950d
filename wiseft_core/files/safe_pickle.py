"""Reading pickled checkpoints (.pt / .pth) without running anything from them.

The reference WiSE-FT code saves whole models with ``pickle.dump`` (its ``ImageClassifier`` around
OpenAI's ``clip.model.CLIP``, plus torchvision transforms); others ``torch.save`` a model or a state
dict. ``pickle.load`` on such a file imports and calls whatever the file names, so a look-alike file
can run code. Here an unpickler resolves only names a checkpoint needs:

- classes of model code (wise-ft's ``src.models``, ``clip.model``, ``torch.nn``, torchvision
  transforms, open_clip) become *inert stand-ins*: they keep the state the file gives them and have
  no behaviour; the tensors are then collected from their ``_parameters`` / ``_buffers``;
- torch's tensor and storage rebuild functions are replaced by our own, which check every size
  against the bytes actually present before creating a tensor;
- ``collections.OrderedDict`` and builtin containers.

Anything else (``os.system``, ``builtins.eval``, an unknown class) stops the load with its name.
Storages come from the three container formats torch uses: a zip (``torch.save``), the legacy
stream (old ``torch.save``, and the bytes inside every pickled storage), or nothing at all for a raw
pickle (whose storages are legacy streams embedded as bytes).
"""

from __future__ import annotations

import io
import pickle
import struct
import sys
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import torch

from wiseft_core.errors import WiseftError

# Modules whose classes are only data to us: they become inert stand-ins, never imported.
INERT_MODULES = ("src.models.", "clip.model", "clip.clip", "torch.nn.modules.", "torch.nn.parallel.",
                 "torchvision.transforms.", "open_clip.", "PIL.Image")
STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "HalfStorage": torch.float16, "BFloat16Storage": torch.bfloat16,
    "DoubleStorage": torch.float64, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool, "UntypedStorage": torch.uint8,
}
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
MAX_TENSORS = 100_000
MAX_DEPTH = 64
# What one load may materialise beyond the file's own size: a file holds each storage once, so re-reading
# the same bytes (through the pickle memo) or re-parsing them is never needed.
BUDGET_SLACK = 64 << 10
MAX_CALLS = 1_000_000  # constructor calls in one load (a ViT-L checkpoint makes a few thousand)
MAX_NESTING = 1  # legacy streams inside legacy streams: a raw pickle embeds them one level deep


class RefusedGlobal(WiseftError):
    """The file names something a checkpoint does not need; nothing was called."""

    def __init__(self, label: str, module: str, name: str):
        self.module, self.name = module, name
        stdlib = module.split(".")[0] in sys.stdlib_module_names
        advice = ("; this is not model data" if stdlib else
                  "; pass --trust-pickle only if you trust the file's source and need its own classes")
        super().__init__(f"{label} refers to {module}.{name}, which a checkpoint does not need: refused, "
                         f"nothing from the file was run{advice}")


@dataclass(frozen=True)
class _StorageType:
    dtype: torch.dtype


@dataclass(frozen=True)
class _Storage:
    """A storage's elements as a 1-D tensor (read from the file, size checked)."""

    flat: torch.Tensor


@dataclass(frozen=True)
class _Pending:
    """A storage not read yet (first pass over a legacy stream)."""

    dtype: torch.dtype
    numel: int


class Inert:
    """Base of the stand-ins: remembers constructor arguments and state, does nothing else."""

    class_path = "?"

    def __init__(self, *args, **kwargs):
        self.__dict__["args"] = args

    def __setstate__(self, state):
        self.__dict__["state"] = state

    def attributes(self) -> dict:
        """The object's ``__dict__`` as the file gave it (state may be ``(dict, slots)``)."""
        state = self.__dict__.get("state")
        if isinstance(state, tuple) and state and isinstance(state[0], dict):
            state = state[0]
        return state if isinstance(state, dict) else {}


def _ints(values, what: str, label: str) -> tuple[int, ...]:
    if not isinstance(values, (tuple, list)) or len(values) > 8 or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values):
        raise WiseftError(f"{label}: malformed tensor {what} {values!r}")
    return tuple(values)


class _Budget:
    """Bytes and calls one load may spend, charged *before* the work: a file cannot ask for more than it holds.

    Pickles can call a constructor many times on one memoised argument (5 bytes a call), so the size
    check must count what each call will read or build, not what the file is.
    """

    def __init__(self, label: str, file_size: int):
        self.label, self.file_size = label, file_size
        self.left = file_size + BUDGET_SLACK
        self.calls = 0
        self.nesting = 0

    def call(self, what: str, size: int) -> None:
        self.calls += 1
        if self.calls > MAX_CALLS:
            raise WiseftError(f"{self.label}: more than {MAX_CALLS:,} constructor calls in one pickle: refused")
        self.left -= size
        if self.left < 0:
            raise WiseftError(f"{self.label}: the pickle asks to {what} more bytes than the file holds "
                              f"({self.file_size:,}), re-reading its own data: refused before reading them")


class _Reader:
    """One load: fresh stand-in classes and functions, so a file cannot alter what the next load sees."""

    def __init__(self, label: str, file_size: int):
        self.label = label
        self.classes: dict[str, type] = {}
        self.tensors = 0
        self.budget = _Budget(label, file_size)

    def _counted(self, build):
        """``build`` (a container constructor) charged one element per item of its argument."""
        def call(*args):
            self.budget.call("build containers holding", sum(len(a) for a in args if hasattr(a, "__len__")))
            return build(*args)
        return call

    # -- globals a checkpoint may name -------------------------------------------------------------
    def find_class(self, module: str, name: str):
        path = f"{module}.{name}"
        if module == "collections" and name == "OrderedDict":
            return self._counted(OrderedDict)
        if module in ("builtins", "__builtin__") and name in ("set", "frozenset"):
            return self._counted({"set": set, "frozenset": frozenset}[name])
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return self._rebuild_tensor_fn()
        if module == "torch._utils" and name in ("_rebuild_parameter", "_rebuild_parameter_with_state"):
            return lambda data, *rest: data
        if module == "torch.storage" and name == "_load_from_bytes":
            return lambda data: self.legacy_stream(data)
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(STORAGE_DTYPES[name])
        if module.startswith(INERT_MODULES) or module in ("clip", "torch.nn"):
            if path not in self.classes:
                self.classes[path] = type(name, (Inert,), {"class_path": path, "__module__": "wiseft_core.inert"})
            return self.classes[path]
        raise RefusedGlobal(self.label, module, name)

    def _rebuild_tensor_fn(self):
        def rebuild(storage, offset, size, stride, *rest):
            if isinstance(storage, _Pending):
                return None  # first pass over a legacy stream: shapes only
            if not isinstance(storage, _Storage):
                raise WiseftError(f"{self.label}: a tensor refers to something that is not a storage")
            size, stride = _ints(size, "size", self.label), _ints(stride, "stride", self.label)
            if not isinstance(offset, int) or offset < 0 or len(size) != len(stride):
                raise WiseftError(f"{self.label}: malformed tensor layout")
            self.tensors += 1
            if self.tensors > MAX_TENSORS:
                raise WiseftError(f"{self.label}: more than {MAX_TENSORS} tensors")
            last = offset + sum((n - 1) * s for n, s in zip(size, stride)) if all(size) else offset - 1
            if last >= storage.flat.numel():
                raise WiseftError(f"{self.label}: a tensor of shape {size} reaches past its storage "
                                  f"({storage.flat.numel()} elements)")
            return storage.flat.as_strided(size, stride, offset)
        return rebuild

    def unpickler(self, stream, persistent_load=None) -> pickle.Unpickler:
        reader = self

        class Restricted(pickle.Unpickler):
            def find_class(self, module, name):
                return reader.find_class(module, name)

            def persistent_load(self, pid):
                if persistent_load is None:
                    raise WiseftError(f"{reader.label}: unexpected storage reference in a raw pickle")
                return persistent_load(pid)

        return Restricted(stream)

    # -- storages ----------------------------------------------------------------------------------
    def _storage_ref(self, pid) -> tuple[str, torch.dtype, int]:
        if (not isinstance(pid, tuple) or len(pid) < 5 or pid[0] != "storage"
                or not isinstance(pid[1], _StorageType) or not isinstance(pid[4], int) or pid[4] < 0):
            raise WiseftError(f"{self.label}: malformed storage reference")
        if len(pid) > 5 and pid[5] is not None:
            raise WiseftError(f"{self.label}: storage views of very old torch files are not supported")
        return str(pid[2]), pid[1].dtype, pid[4]

    def _is_module_ref(self, pid) -> bool:
        """``torch.save(model)`` in the legacy format names each module class (with its source) by reference."""
        if not (isinstance(pid, tuple) and pid and pid[0] == "module"):
            return False
        if len(pid) < 2 or not (isinstance(pid[1], type) and issubclass(pid[1], Inert)):
            raise WiseftError(f"{self.label}: malformed module reference")
        return True

    def legacy_stream(self, data) -> object:
        """Old torch.save format: magic, protocol, sys info, the object, storage keys, raw storages."""
        if not isinstance(data, (bytes, bytearray)):
            raise WiseftError(f"{self.label}: a pickled storage holds no bytes")
        self.budget.call("parse", len(data))
        if self.budget.nesting > MAX_NESTING:
            raise WiseftError(f"{self.label}: storages nested more than {MAX_NESTING + 1} deep: refused")
        self.budget.nesting += 1
        try:
            return self._legacy_stream(data)
        finally:
            self.budget.nesting -= 1

    def _legacy_stream(self, data: bytes) -> object:
        stream = io.BytesIO(data)
        if self.unpickler(stream).load() != LEGACY_MAGIC:
            raise WiseftError(f"{self.label}: not a torch legacy stream (bad magic number)")
        self.unpickler(stream).load()  # protocol version
        info = self.unpickler(stream).load()
        if isinstance(info, dict) and info.get("little_endian") is False:
            raise WiseftError(f"{self.label}: big-endian torch files are not supported")
        start = stream.tell()
        pending: dict[str, _Pending] = {}

        def record(pid):
            if self._is_module_ref(pid):
                return pid[1]
            key, dtype, numel = self._storage_ref(pid)
            pending[key] = _Pending(dtype, numel)
            return pending[key]

        self.unpickler(stream, record).load()
        keys = self.unpickler(stream).load()
        if not isinstance(keys, list) or set(map(str, keys)) != set(pending):
            raise WiseftError(f"{self.label}: storage list does not match the objects that use it")
        storages = {}
        for key in keys:
            (numel,) = struct.unpack("<q", stream.read(8).ljust(8, b"\xff"))
            want = pending[str(key)]
            nbytes = numel * want.dtype.itemsize
            if nbytes > len(data) - stream.tell() or numel < 0:
                raise WiseftError(f"{self.label}: storage {key} declares {numel} elements but the file "
                                  "holds fewer bytes")
            if numel != want.numel:
                raise WiseftError(f"{self.label}: storage {key} holds {numel} elements where its tensor expects "
                                  f"{want.numel}")
            at = stream.tell()
            stream.seek(at + nbytes)
            raw = bytearray(memoryview(data)[at:at + nbytes])  # one copy: torch needs a writable buffer
            storages[str(key)] = _Storage(torch.frombuffer(raw, dtype=want.dtype) if nbytes
                                          else torch.empty(0, dtype=want.dtype))
        end = stream.tell()
        stream.seek(start)
        obj = self.unpickler(stream, lambda pid: pid[1] if self._is_module_ref(pid)
                             else storages[self._storage_ref(pid)[0]]).load()
        stream.seek(end)
        return obj

    def zip_archive(self, path: Path) -> object:
        """torch.save's zip: ``*/data.pkl`` plus one uncompressed entry per storage."""
        with zipfile.ZipFile(path) as archive:
            names = {info.filename: info for info in archive.infolist()}
            if any(info.compress_type != zipfile.ZIP_STORED for info in names.values()):
                raise WiseftError(f"{self.label}: compressed zip entries (torch.save never writes them) are refused")
            pickles = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
            if len(pickles) != 1:
                raise WiseftError(f"{self.label}: not a torch.save zip (no single data.pkl)")
            prefix = pickles[0][: -len("data.pkl")]
            order = archive.read(prefix + "byteorder").decode().strip() if prefix + "byteorder" in names else "little"
            if order != "little":
                raise WiseftError(f"{self.label}: big-endian torch files are not supported")
            cache: dict[str, _Storage] = {}

            def load_storage(pid):
                key, dtype, numel = self._storage_ref(pid)
                if key not in cache:
                    entry = names.get(f"{prefix}data/{key}")
                    if entry is None or entry.file_size < numel * dtype.itemsize:
                        raise WiseftError(f"{self.label}: storage {key} is missing or shorter than declared")
                    raw = bytearray(archive.read(entry))[: numel * dtype.itemsize]
                    cache[key] = _Storage(torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype))
                return cache[key]

            with archive.open(pickles[0]) as handle:
                return self.unpickler(io.BytesIO(handle.read()), load_storage).load()


@dataclass
class PickledCheckpoint:
    """What a pickled file held: its tensors by key, and what we could learn about the model code."""

    state_dict: dict[str, torch.Tensor]
    root_class: str | None = None  # e.g. src.models.modeling.ImageClassifier
    module_classes: dict[str, str] = field(default_factory=dict)  # module key -> class path
    preprocess: dict = field(default_factory=dict)  # from a pickled val_preprocess, when present
    hints: dict = field(default_factory=dict)  # a checkpoint dict's plain entries (model name, config)


HINT_KEYS = ("model_name", "model", "arch", "pretrained", "model_config", "model_cfg", "config")


def checkpoint_hints(root) -> dict:
    """Plain-data entries beside a ``state_dict`` that may name the architecture (strings and small dicts only)."""
    if not isinstance(root, dict):
        return {}
    return {k: root[k] for k in HINT_KEYS if isinstance(root.get(k), (str, dict)) and len(str(root[k])) < 10_000}


def _walk_module(obj: Inert, prefix: str, out: PickledCheckpoint, depth: int, seen: set[int]) -> None:
    if depth > MAX_DEPTH or id(obj) in seen:
        return
    seen.add(id(obj))
    out.module_classes[prefix.rstrip(".")] = obj.class_path
    state = obj.attributes()
    skip = state.get("_non_persistent_buffers_set") or set()
    for group in ("_parameters", "_buffers"):
        tensors = state.get(group) or {}
        if isinstance(tensors, dict):
            for name, value in tensors.items():
                if isinstance(value, torch.Tensor) and not (group == "_buffers" and name in skip):
                    out.state_dict[f"{prefix}{name}"] = value
    children = state.get("_modules") or {}
    if isinstance(children, dict):
        for name, child in children.items():
            if isinstance(child, Inert):
                _walk_module(child, f"{prefix}{name}.", out, depth + 1, seen)


def _transform_settings(obj) -> dict:
    """Resize size / interpolation and Normalize mean / std of a pickled torchvision Compose."""
    settings: dict = {}
    steps = obj.attributes().get("transforms") if isinstance(obj, Inert) else None
    for step in steps if isinstance(steps, list) else []:
        if not isinstance(step, Inert):
            continue
        attrs, kind = step.attributes(), step.class_path.rsplit(".", 1)[-1]
        if kind == "Resize":
            settings["size"] = attrs.get("size")
            mode = attrs.get("interpolation")
            args = mode.__dict__.get("args") if isinstance(mode, Inert) else None
            settings["interpolation"] = args[0] if args else mode
        elif kind == "Normalize":
            settings["mean"], settings["std"] = attrs.get("mean"), attrs.get("std")
    return settings


def _collect(root, label: str) -> PickledCheckpoint:
    if isinstance(root, Inert):
        out = PickledCheckpoint({}, root_class=root.class_path)
        _walk_module(root, "", out, 0, set())
        for holder in (root, root.attributes().get("_modules", {}).get("image_encoder")):
            if isinstance(holder, Inert) and "val_preprocess" in holder.attributes():
                out.preprocess = _transform_settings(holder.attributes()["val_preprocess"])
                break
        return out
    hints = checkpoint_hints(root)
    if isinstance(root, dict) and isinstance(root.get("state_dict"), dict):
        root = root["state_dict"]
    if isinstance(root, dict) and root and all(isinstance(v, torch.Tensor) for v in root.values()):
        return PickledCheckpoint({str(k): v for k, v in root.items()}, hints=hints)
    raise WiseftError(f"{label} does not hold a model or a state dict of tensors (found {type(root).__name__})")


def read_pickled(path: Path, label: str, kind: str) -> PickledCheckpoint:
    """Read a ``zip`` (torch.save) or ``pickle`` (legacy torch.save or raw pickle) file without running code.

    Raises :class:`RefusedGlobal` when the file names anything outside the allow-list, and WiseftError
    when it is malformed.
    """
    reader = _Reader(label, path.stat().st_size)
    try:
        if kind == "zip":
            root = reader.zip_archive(path)
        else:
            data = path.read_bytes()
            first = reader.unpickler(io.BytesIO(data)).load()
            legacy = isinstance(first, int) and not isinstance(first, bool) and first == LEGACY_MAGIC
            root = reader.legacy_stream(data) if legacy else first
    except WiseftError:
        raise
    except Exception as err:  # malformed bytes surface as any of a dozen exception types
        raise WiseftError(f"{label} is not a readable checkpoint ({type(err).__name__}: "
                          f"{str(err).splitlines()[0][:100] if str(err) else 'malformed pickle'})") from None
    return _collect(root, label)
