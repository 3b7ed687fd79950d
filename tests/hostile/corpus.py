"""A corpus of hostile inputs: checkpoints, images and CSVs that once crashed or exhausted the machine.

Each case is generated (a few KB each) from a valid tiny checkpoint, so the corpus stays small and
follows the format as it evolves. ``tests/test_hostile.py`` runs every case through the CLI; to look
at the files themselves: ``python tests/hostile/corpus.py OUT_DIR``.

A case says which file it writes, how the CLI is invoked on it and what the one-line error must say
(and, where it matters, what it must *not* say).
"""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import sys
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # "zeroshot" | "finetuned" (a checkpoint on that side of `inspect`), "image" (predict), "csv"
    make: Callable[[Path, Path], Path]  # (folder, valid zero-shot checkpoint) -> the hostile file
    expect: str  # regex the one-line error must match
    forbid: str | None = None  # regex it must not match


# ---------------------------------------------------------------------------- checkpoint builders

def _tensors_and_meta(valid: Path) -> tuple[dict[str, torch.Tensor], dict]:
    with safe_open(str(valid), framework="pt") as handle:
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
        meta = json.loads(handle.metadata()["wiseft"])
    return tensors, meta


def _with_meta(edit: Callable[[dict], None], name: str) -> Callable[[Path, Path], Path]:
    """A checkpoint whose tensors are fine and whose metadata ``edit`` spoils."""
    def make(folder: Path, valid: Path) -> Path:
        tensors, meta = _tensors_and_meta(valid)
        edit(meta)
        path = folder / f"{name}.safetensors"
        save_file(tensors, str(path), metadata={"wiseft": json.dumps(meta)})
        return path
    return make


def _tiny_with_meta(edit: Callable[[dict], None], name: str) -> Callable[[Path, Path], Path]:
    """About 1 KB: one small tensor and metadata declaring something enormous."""
    def make(folder: Path, valid: Path) -> Path:
        _, meta = _tensors_and_meta(valid)
        edit(meta)
        path = folder / f"{name}.safetensors"
        save_file({"head.weight": torch.zeros(2, 2)}, str(path), metadata={"wiseft": json.dumps(meta)})
        return path
    return make


def _set(*keys_and_value):
    *keys, value = keys_and_value

    def edit(meta: dict) -> None:
        target = meta
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
    return edit


def _bytes(name: str, data: bytes) -> Callable[[Path, Path], Path]:
    def make(folder: Path, valid: Path) -> Path:
        path = folder / name
        path.write_bytes(data)
        return path
    return make


PASSWD = b"root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"


def _weights_with(value: float, name: str) -> Callable[[Path, Path], Path]:
    def make(folder: Path, valid: Path) -> Path:
        tensors, meta = _tensors_and_meta(valid)
        key = sorted(k for k in tensors if k.endswith("weight"))[1]
        tensors[key] = tensors[key].clone()
        tensors[key].view(-1)[3] = value
        path = folder / f"{name}.safetensors"
        save_file(tensors, str(path), metadata={"wiseft": json.dumps(meta)})
        return path
    return make


def _deflated_zip(folder: Path, valid: Path) -> Path:
    """A torch.save zip re-packed with deflate: 16 MiB of zeros in a few KB (a 1 GiB tensor fits in 3.5 MB)."""
    tensors, _ = _tensors_and_meta(valid)
    tensors["head.weight"] = torch.zeros(4 << 20)
    buffer = io.BytesIO()
    torch.save(tensors, buffer)
    path = folder / "deflated.pt"
    with zipfile.ZipFile(buffer) as stored, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as packed:
        for entry in stored.infolist():
            packed.writestr(entry.filename, stored.read(entry.filename))
    return path


class _RunsCode:
    """What a hostile pickle looks like: unpickling calls os.system."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _code_payload_zip(folder: Path, valid: Path) -> Path:
    tensors, _ = _tensors_and_meta(valid)
    path = folder / "payload.pt"
    torch.save({**tensors, "evil": _RunsCode(folder / "PWNED")}, path)
    return path


def _code_payload_raw(folder: Path, valid: Path) -> Path:
    path = folder / "payload_raw.pt"
    with open(path, "wb") as handle:
        pickle.dump({"state_dict": _RunsCode(folder / "PWNED")}, handle, protocol=4)
    return path


def _huge_header_shape(folder: Path, valid: Path) -> Path:
    """A safetensors header declaring a 10^12-element tensor over 8 bytes of data."""
    header = json.dumps({"head.weight": {"dtype": "F32", "shape": [1000000, 1000000], "data_offsets": [0, 8]}})
    path = folder / "huge_shape.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header.encode() + b"\0" * 8)
    return path


CHECKPOINT_CASES = [
    Case("format_version_string", "zeroshot", _with_meta(_set("format_version", "1"), "fv_string"),
         r"format_version' must be a positive integer, got '1'"),
    Case("format_version_null", "zeroshot", _with_meta(_set("format_version", None), "fv_null"),
         r"format_version' must be a positive integer, got None"),
    Case("vision_cfg_string", "zeroshot", _with_meta(_set("model_config", "vision_cfg", "ViT-B-32"), "vcfg_str"),
         r"'vision_cfg' must be an object, got str"),
    Case("passwd_as_pt", "zeroshot", _bytes("passwd.pt", PASSWD),
         r"not a checkpoint: neither a safetensors file", forbid="trust-pickle"),
    Case("text_as_pt", "zeroshot", _bytes("notes.pt", b"These are my notes, not a model.\n" * 20),
         r"not a checkpoint", forbid="trust-pickle"),
    Case("random_bytes_pt", "zeroshot", _bytes("random.pt", np.random.default_rng(0).bytes(4096)),
         r"not a checkpoint", forbid="trust-pickle"),
    Case("random_bytes_behind_a_pickle_header", "finetuned",
         _bytes("random_pickle.pt", b"\x80\x04" + np.random.default_rng(1).bytes(4096)),
         r"random_pickle.pt", forbid="trust-pickle"),
    Case("image_size_zero", "zeroshot", _with_meta(_set("preprocessing", "image_size", 0), "size0"),
         r"image_size = 0 is outside \[8, 1024\]"),
    Case("image_size_negative", "zeroshot", _with_meta(_set("preprocessing", "image_size", -5), "size_neg"),
         r"image_size = -5 is outside"),
    Case("image_size_million", "zeroshot",
         _tiny_with_meta(_set("model_config", "vision_cfg", "image_size", 1000000), "size_million"),
         r"vision_cfg image_size = 1000000 is outside"),
    Case("width_100000", "zeroshot", _tiny_with_meta(_set("model_config", "vision_cfg", "width", 100000), "wide"),
         r"vision_cfg width = 100000 is outside"),
    Case("std_zero", "zeroshot", _with_meta(_set("preprocessing", "std", [0, 0, 0]), "std0"),
         r"preprocessing std = 0 is outside"),
    Case("mean_two_values", "zeroshot", _with_meta(_set("preprocessing", "mean", [0.5, 0.5]), "mean2"),
         r"mean must hold 3 numbers"),
    Case("mean_nan", "zeroshot", _with_meta(_set("preprocessing", "mean", [float("nan"), 0.5, 0.5]), "mean_nan"),
         r"mean must be a finite number"),
    Case("interpolation_bogus", "zeroshot", _with_meta(_set("preprocessing", "interpolation", "bogus"), "interp"),
         r"interpolation 'bogus' is not one of bicubic, bilinear"),
    Case("classnames_not_strings", "zeroshot", _with_meta(_set("classnames", [{"a": 1}, 2]), "cls"),
         r"'classnames' must be a list of 1\.\.100000 strings"),
    Case("metadata_json_bomb", "zeroshot", lambda f, v: _json_bomb(f, v), r"not valid JSON|must be"),
    Case("header_declares_huge_tensor", "zeroshot", _huge_header_shape, r"huge_shape.safetensors"),
    Case("nan_weight", "finetuned", _weights_with(float("nan"), "nan"), r"holds 1 NaN/Inf value"),
    Case("inf_weight", "finetuned", _weights_with(float("inf"), "inf"), r"holds 1 NaN/Inf value"),
    Case("deflated_zip", "finetuned", _deflated_zip, r"zip entry .* is compressed"),
    Case("code_payload_zip", "finetuned", _code_payload_zip, r"payload.pt refers to (os|posix)\.system.*nothing from "
         r"the file was run", forbid="trust-pickle"),
    Case("code_payload_raw_pickle", "finetuned", _code_payload_raw, r"payload_raw.pt refers to (os|posix)\.system",
         forbid="trust-pickle"),
    Case("zero_stride_tensor", "zeroshot", lambda f, v: _zero_stride(f, v),
         r"tensors claim [\d,]+ bytes but the file has"),
    Case("storage_claims_more_than_the_file", "finetuned", lambda f, v: _storage_lie(f, v),
         r"declares 1000000000000 elements but the file holds fewer bytes"),
]


def _zero_stride(folder: Path, valid: Path) -> Path:
    """A wise-ft-looking state dict whose ViT-sized weights are zero-stride views of one float each."""
    one = torch.zeros(1)
    width, patch = 8192, 32
    tensors = {
        "image_encoder.model.visual.conv1.weight": one.expand(width, 3, patch, patch),
        "image_encoder.model.visual.positional_embedding": one.expand(50, width),
        "image_encoder.model.visual.proj": one.expand(width, 512),
        "classification_head.weight": one.expand(1000, 512),
    }
    path = folder / "zero_stride.pt"
    torch.save(tensors, path)
    return path


def _storage_lie(folder: Path, valid: Path) -> Path:
    """A raw pickle whose embedded storage says 10^12 elements over 64 bytes: refused before allocating."""
    buffer = io.BytesIO()
    pickle.dump({"head.weight": torch.zeros(16)}, buffer, protocol=4)
    data = bytearray(buffer.getvalue())
    where = data.rfind((16).to_bytes(8, "little"))  # the element count right before the raw data
    data[where:where + 8] = (10 ** 12).to_bytes(8, "little")
    path = folder / "storage_lie.pt"
    path.write_bytes(bytes(data))
    return path


def _json_bomb(folder: Path, valid: Path) -> Path:
    tensors, _ = _tensors_and_meta(valid)
    path = folder / "json_bomb.safetensors"
    save_file(tensors, str(path), metadata={"wiseft": "[" * 100_000 + "]" * 100_000})
    return path


# A checkpoint declaring a big architecture over almost no data: metadata is checked against the file's
# tensors before any model is built (these once allocated 22 GB, 90 GB and 1 GB).
MEMORY_CASES = ["image_size_million", "width_100000", "declares_vit_l_14"]


def declares_vit_l_14(folder: Path, valid: Path) -> Path:
    import open_clip

    def edit(meta: dict) -> None:
        meta["model_name"] = "ViT-L-14"
        meta["model_config"] = open_clip.get_model_config("ViT-L-14")
        meta["preprocessing"]["image_size"] = 224
    return _tiny_with_meta(edit, "vit_l_14")(folder, valid)


CHECKPOINT_CASES.append(Case("declares_vit_l_14", "zeroshot", declares_vit_l_14,
                             r"does not match ViT-L-14 with 5 classes"))


def _sincos(image_size: int, patch_size: int, width: int):
    def edit(meta: dict) -> None:
        meta["model_config"]["vision_cfg"].update(pos_embed_type="sin_cos_2d", image_size=image_size,
                                                  patch_size=patch_size, width=width)
        meta["preprocessing"]["image_size"] = image_size
    return edit


# Configs whose construction open_clip does eagerly, in CPU memory, even on the meta device.
EAGER_CASES = ["sincos_1024_patch_1", "sincos_wide"]
CHECKPOINT_CASES += [
    Case("sincos_1024_patch_1", "zeroshot", _tiny_with_meta(_sincos(1024, 1, 256), "sincos"),
         r"pos_embed_type 'sin_cos_2d' at image_size 1024, patch_size 1, width 256 would take 5,120 MiB"),
    Case("sincos_wide", "zeroshot", _tiny_with_meta(_sincos(512, 2, 8192), "sincos_wide"),
         r"sin_cos_2d' .* width 8192 would take .* MiB to build \(limit 128 MiB\)"),
    Case("sincos_not_square", "zeroshot", _tiny_with_meta(
        lambda m: m["model_config"]["vision_cfg"].update(pos_embed_type="sin_cos_2d", image_size=[64, 32]),
        "sincos_rect"), r"sin_cos_2d' needs a square image_size"),
    Case("pos_embed_unknown", "zeroshot", _tiny_with_meta(_set("model_config", "vision_cfg", "pos_embed_type",
                                                               "rope"), "rope"),
         r"pos_embed_type 'rope' is not one of learnable, sin_cos_2d"),
    Case("norm_kwargs_device", "zeroshot", _tiny_with_meta(_set("model_config", "vision_cfg", "norm_kwargs",
                                                                {"device": "cpu"}), "norm_device"),
         r"vision_cfg norm_kwargs may only set eps, elementwise_affine, bias"),
    Case("pooler_queries_huge", "zeroshot", _tiny_with_meta(_set("model_config", "vision_cfg",
                                                                 "attn_pooler_queries", 10 ** 9), "pooler"),
         r"attn_pooler_queries = 1000000000 is outside"),
]
MEMORY_CASES += EAGER_CASES


# ---------------------------------------------------------------------------- amplification through the memo

def legacy_storage_bytes(numel: int) -> bytes:
    """The bytes torch embeds for one storage in a raw pickle: a legacy torch.save stream."""
    with warnings.catch_warnings():  # TypedStorage is what torch itself embeds, deprecated or not
        warnings.simplefilter("ignore")
        return torch.zeros(numel).storage().__reduce__()[1][0]


def legacy_stream_of(obj) -> bytes:
    """A legacy torch.save stream holding ``obj`` and no storages (what a re-parse stream carries)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer, _use_new_zipfile_serialization=False, pickle_protocol=4)
    return buffer.getvalue()


def memo_calls(callable_global: bytes, argument: bytes, calls: int) -> bytes:
    """A raw pickle calling one global ``calls`` times on one memoised argument: 6 bytes a call.

    ``callable_global`` is ``b"module\\nname\\n"``; ``argument`` is pickle opcodes pushing the argument.
    """
    head = b"\x80\x04c" + callable_global + b"q\x00" + argument + b"q\x01]("
    return head + b"h\x00h\x01\x85R" * calls + b"e."


def _binbytes(data: bytes) -> bytes:
    return b"B" + struct.pack("<I", len(data)) + data


def memo_storage_trick(calls: int, numel: int = 16 << 10) -> bytes:
    """One embedded legacy storage fed to torch.storage._load_from_bytes ``calls`` times."""
    return memo_calls(b"torch.storage\n_load_from_bytes\n", _binbytes(legacy_storage_bytes(numel)), calls)


def reparse_stream(calls: int, size: int = 1 << 20) -> bytes:
    """A ``size``-byte legacy stream with no storages, parsed ``calls`` times (CPU, not memory)."""
    return memo_calls(b"torch.storage\n_load_from_bytes\n", _binbytes(legacy_stream_of(b"x" * size)), calls)


def nested_streams(depth: int) -> bytes:
    """A legacy stream inside a legacy stream inside ... ``depth`` deep, each parsed by the one around it."""
    inner: object = b"core"
    for _ in range(depth):
        inner = _LegacyCall(legacy_stream_of(inner))
    return pickle.dumps(inner, protocol=4)


class _LegacyCall:
    def __init__(self, data: bytes):
        self.data = data

    def __reduce__(self):
        return (torch.storage._load_from_bytes, (self.data,))


def set_amplifier(items: int, calls: int) -> bytes:
    """A list of ``items`` built with 1-byte DUPs, then turned into a set ``calls`` times."""
    listing = b"](K\x01" + b"2" * (items - 1) + b"e"
    return memo_calls(b"builtins\nset\n", listing, calls)


CHECKPOINT_CASES += [
    Case("memo_storage_trick_n150", "finetuned", _bytes("memo150.pt", memo_storage_trick(150)),
         r"memo150.pt: the pickle asks to parse more bytes than the file holds", forbid="trust-pickle"),
    Case("memo_storage_trick_n5000", "finetuned", _bytes("memo5000.pt", memo_storage_trick(5000, 1 << 10)),
         r"memo5000.pt: the pickle asks to parse more bytes than the file holds"),
    Case("reparse_stream", "finetuned", _bytes("reparse.pt", reparse_stream(20_000, 256 << 10)),
         r"reparse.pt: the pickle asks to parse more bytes"),
    Case("nested_legacy_streams", "finetuned", _bytes("nested.pt", nested_streams(6)),
         r"nested.pt: storages nested more than 2 deep"),
    Case("set_amplifier", "finetuned", _bytes("sets.pt", set_amplifier(100_000, 1000)),
         r"sets.pt: the pickle asks to build containers holding more bytes than the file holds"),
]


# ---------------------------------------------------------------------------- images

def _encoded(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def _image(name: str, data: Callable[[], bytes]) -> Callable[[Path, Path], Path]:
    def make(folder: Path, valid: Path) -> Path:
        path = folder / name
        path.write_bytes(data())
        return path
    return make


def _truncated_jpeg() -> bytes:
    data = _encoded(Image.new("RGB", (64, 64), (1, 2, 3)), "JPEG")
    return data[: len(data) // 2]


IMAGE_CASES = [
    Case("decompression_bomb", "image", _image("bomb.png", lambda: _encoded(Image.new("1", (12000, 12000)), "PNG")),
         r"too large"),
    Case("thin_image", "image", _image("thin.png", lambda: _encoded(Image.new("L", (40000, 1)), "PNG")),
         r"too thin to classify"),
    Case("truncated_jpeg", "image", _image("cut.jpg", _truncated_jpeg), r"corrupt or truncated"),
    Case("pdf_named_jpg", "image", _image("doc.jpg", lambda: b"%PDF-1.4 not an image"), r"not an image"),
    Case("empty_image", "image", _image("empty.png", lambda: b""), r"empty"),
]


# ---------------------------------------------------------------------------- CSVs

def _csv(name: str, data: bytes) -> Callable[[Path, Path], Path]:
    def make(folder: Path, valid: Path) -> Path:
        sub = folder / name.replace(".csv", "")
        sub.mkdir(exist_ok=True)
        path = sub / name
        path.write_bytes(data)
        return path
    return make


CSV_CASES = [
    Case("csv_not_utf8", "csv", _csv("latin1.csv", "path,label\ncaf\xe9.png,0\n".encode("latin-1")),
         r"not UTF-8 text"),
    Case("csv_negative_label", "csv", _csv("negative.csv", b"a.png,0\nb.png,-1\n"),
         r"line 2: label -1 is not a class index", forbid="classnames.txt"),
    Case("csv_huge_label", "csv", _csv("huge.csv", b"a.png,0\nb.png,100000000\n"),
         r"label 100000000 is not a class index in 0\.\.99999"),
    Case("csv_nul_bytes", "csv", _csv("nul.csv", b"a.png,0\n\0\0\0,1\n"), r"nul.csv"),
    Case("csv_label_not_a_number", "csv", _csv("word.csv", b"a.png,cat\n"), r"label must be an integer"),
]

ALL_CASES = CHECKPOINT_CASES + IMAGE_CASES + CSV_CASES


def write_corpus(folder: Path, valid: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [case.make(folder, valid) for case in ALL_CASES]


if __name__ == "__main__":  # python tests/hostile/corpus.py OUT_DIR  (needs a valid checkpoint to start from)
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.conftest import TINY_VIT, make_classifier
    from wiseft_core.files.checkpoints import save_classifier

    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    classifier, meta, _ = make_classifier("wiseft-test-vit", TINY_VIT, seed=0)
    save_classifier(out / "valid.safetensors", classifier, meta)
    for path in write_corpus(out, out / "valid.safetensors"):
        print(path)
