"""Turning untrusted image files into RGB PIL images, with a clear error for anything we cannot use.

Uploads come from anywhere: truncated JPEGs, renamed non-images, 16-bit PNGs, CMYK, animated
GIFs, decompression bombs. Each becomes either a usable RGB image (EXIF rotation applied, first
frame taken, alpha composited on white) plus notes for the user, or a WiseftError.
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import warnings
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from wiseft_core.errors import WiseftError

MAX_PIXELS = 40_000_000  # ~ 6300 x 6300; anything larger is treated as a decompression bomb
MAX_BYTES = 50 * 1024 * 1024
# Preprocessing scales the shorter side up to the model's input size, so a 40000 x 1 image would become
# ~9 billion pixels before the centre crop; nothing that thin is a photo.
MAX_ASPECT_RATIO = 50


def _read_bytes(source: bytes | str | os.PathLike | IO) -> tuple[str, bytes]:
    if isinstance(source, bytes):
        name, data = "image", source
    elif hasattr(source, "read"):
        name, data = getattr(source, "name", "image"), source.read(MAX_BYTES + 1)
    else:
        path = Path(source)
        name = str(path)
        try:
            if not path.is_file():
                raise WiseftError(f"image not found: {path}")
            if path.stat().st_size > MAX_BYTES:
                raise WiseftError(f"{path}: file is larger than {MAX_BYTES // 2**20} MB")
            data = path.read_bytes()
        except OSError as err:
            raise WiseftError(f"{path}: cannot read the image ({err.strerror or err})") from None
    if len(data) > MAX_BYTES:
        raise WiseftError(f"{name}: file is larger than {MAX_BYTES // 2**20} MB")
    return name, data


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        lo, hi = float(array.min()), float(array.max())
        scaled = (array - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(array)
        image = Image.fromarray(scaled.astype(np.uint8), mode="L")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")


def open_images_for_cli(paths: list[str]) -> list[Image.Image]:
    """Open every image a command was given; notes (converted modes, first frame) go to stderr."""
    images = []
    for path in paths:
        image, notes = open_image_with_notes(path)
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        images.append(image)
    return images


def open_image_with_notes(source: bytes | str | os.PathLike | IO) -> tuple[Image.Image, list[str]]:
    """Decode fully (so truncation is caught here, not later) and return (RGB image, notes for the user)."""
    name, data = _read_bytes(source)
    if not data:
        raise WiseftError(f"{name}: the file is empty")
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))  # reads the header only: the checks below cost no decoding
            _check_size(name, *image.size)
            frames = getattr(image, "n_frames", 1)
            if frames > 1:
                image.seek(0)
                notes.append(f"{name}: animated image with {frames} frames; using the first frame")
            image.load()
            original_mode = image.mode
            ImageOps.exif_transpose(image, in_place=True)  # no second full-size copy
    except WiseftError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise WiseftError(f"{name}: image dimensions are too large (decompression bomb protection)") from None
    except UnidentifiedImageError:
        raise WiseftError(f"{name}: not an image file (or a format Pillow cannot read)") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise WiseftError(f"{name}: corrupt or truncated image ({err})") from None
    if original_mode not in ("RGB", "L"):
        notes.append(f"{name}: converted from {original_mode} to RGB")
    return _to_rgb(image), notes


def _check_size(name: str, width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise WiseftError(f"{name}: {width}x{height} pixels is too large (limit {MAX_PIXELS // 1_000_000} MP); "
                          "possibly a decompression bomb")
    if max(width, height) > MAX_ASPECT_RATIO * max(1, min(width, height)):
        raise WiseftError(f"{name}: {width}x{height} pixels is too thin to classify "
                          f"(aspect ratio above {MAX_ASPECT_RATIO}:1)")


def model_sized(image: Image.Image, preprocessing) -> Image.Image:
    """``image`` after the first step of ``preprocessing``'s transform (its resize), the copy worth keeping.

    The full transform of this copy equals the full transform of ``image`` exactly (the resize of an
    image already at the target size is a copy in Pillow), so a page can drop the full-resolution
    decode and still give the same numbers; the copy is a few hundred pixels a side.
    """
    return preprocessing.eval_transform().transforms[0](image)


def open_image(source: bytes | str | os.PathLike | IO) -> Image.Image:
    """An RGB image from bytes, a path or a file-like object; WiseftError if unusable."""
    return open_image_with_notes(source)[0]


@dataclass
class Decoded:
    """An image file's outcome, kept between reruns: the small copy and notes, or the error to show again."""

    image: Image.Image | None
    digest: str = ""  # of the file's bytes: names the image in shared caches
    notes: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class ImageMemo:
    """One viewer's decoded images by key (content digest, model input): each file is decoded once, not per rerun.

    Only what ``shrink`` returns is kept (e.g. :func:`model_sized`), and :meth:`keep_only` forgets the
    files the viewer removed, so a session holds a few small images whatever its uploads' resolution.
    """

    entries: dict[Hashable, Decoded] = field(default_factory=dict)

    def get(self, key: Hashable, data: Callable[[], bytes], name: str,
            shrink: Callable[[Image.Image], Image.Image]) -> Decoded:
        if key not in self.entries:
            self.entries[key] = _decode(data, name, shrink)
        return self.entries[key]

    def keep_only(self, keys: Iterable[Hashable]) -> None:
        wanted = set(keys)
        for key in [k for k in self.entries if k not in wanted]:
            del self.entries[key]


def _decode(data: Callable[[], bytes], name: str, shrink: Callable[[Image.Image], Image.Image]) -> Decoded:
    raw = data()
    digest = hashlib.sha256(raw).hexdigest()[:20]
    handle = io.BytesIO(raw)
    handle.name = name  # the messages name the viewer's file
    try:
        image, notes = open_image_with_notes(handle)
    except WiseftError as err:
        return Decoded(None, digest, error=str(err))
    return Decoded(shrink(image), digest, notes)
