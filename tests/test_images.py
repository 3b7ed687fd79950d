import io

import numpy as np
import pytest
from PIL import Image

from wiseft_core.errors import WiseftError
from wiseft_core.files.images import open_image, open_image_with_notes


def encoded(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "GIF"])
def test_common_formats_decode_to_rgb(fmt):
    image = open_image(encoded(Image.new("RGB", (20, 10), (250, 0, 0)), fmt))
    assert image.mode == "RGB" and image.size == (20, 10)
    assert image.getpixel((5, 5))[0] > 200


def test_exif_rotation_is_honoured():
    image = Image.new("RGB", (40, 20), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    assert open_image(encoded(image, "JPEG", exif=exif)).size == (20, 40)


def test_rgba_cmyk_sixteen_bit_and_greyscale_become_rgb():
    transparent = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    assert open_image(encoded(transparent, "PNG")).getpixel((0, 0)) == (255, 255, 255)
    cmyk, notes = open_image_with_notes(encoded(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG"))
    assert cmyk.mode == "RGB" and "converted from CMYK" in notes[0]
    ramp = Image.fromarray(np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000)
    sixteen = open_image(encoded(ramp, "PNG"))
    assert sixteen.getpixel((0, 0)) == (0, 0, 0) and sixteen.getpixel((7, 7)) == (255, 255, 255)
    assert open_image(encoded(Image.new("L", (8, 8), 128), "PNG")).getpixel((1, 1)) == (128, 128, 128)


def test_animated_gif_uses_the_first_frame_and_says_so():
    frames = [Image.new("RGB", (8, 8), c) for c in [(255, 0, 0), (0, 255, 0), (0, 0, 255)]]
    data = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:])
    image, notes = open_image_with_notes(data)
    assert image.getpixel((2, 2))[0] > 200
    assert "3 frames" in notes[0]


def test_bad_inputs_raise_clear_errors(tmp_path):
    with pytest.raises(WiseftError, match="empty"):
        open_image(b"")
    with pytest.raises(WiseftError, match="not an image"):
        open_image(b"%PDF-1.4 this is a pdf renamed to .jpg")
    jpeg = encoded(Image.new("RGB", (64, 64), (1, 2, 3)), "JPEG")
    with pytest.raises(WiseftError, match="corrupt or truncated"):
        open_image(jpeg[: len(jpeg) // 2])
    with pytest.raises(WiseftError, match="not found"):
        open_image(tmp_path / "missing.png")


def test_decompression_bombs_are_refused_before_decoding():
    bomb = encoded(Image.new("1", (12000, 12000)), "PNG")
    assert len(bomb) < 1_000_000
    with pytest.raises(WiseftError, match="too large"):
        open_image(bomb)


@pytest.mark.parametrize("mode", ["shortest", "longest", "squash"])
def test_the_kept_model_sized_copy_gives_exactly_the_model_input_of_the_full_image(mode):
    import torch

    from wiseft_core.engine.predict import to_batch
    from wiseft_core.files.images import model_sized
    from wiseft_core.files.models import Preprocessing

    rng = np.random.default_rng(0)
    preprocessing = Preprocessing(64, (0.4, 0.4, 0.4), (0.3, 0.3, 0.3), "bicubic", mode)
    for width, height in [(1000, 700), (300, 1200), (40, 48), (64, 64)]:
        image = Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8))
        small = model_sized(image, preprocessing)
        assert max(small.size) <= max(64 * 4, max(width, height))
        assert torch.equal(to_batch([small], preprocessing), to_batch([image], preprocessing))


def test_each_file_is_decoded_once_and_forgotten_when_the_viewer_removes_it():
    from wiseft_core.files.images import ImageMemo

    memo, reads = ImageMemo(), []

    def data(payload: bytes):
        def read() -> bytes:
            reads.append(payload)
            return payload
        return read

    def small(image):
        return image.resize((8, 8))

    good, bad = encoded(Image.new("RGB", (200, 100), (10, 200, 30)), "PNG"), b"not an image"
    for _ in range(3):  # three reruns
        first = memo.get("a", data(good), "a.png", small)
        broken = memo.get("b", data(bad), "b.png", small)
    assert reads == [good, bad]
    assert first.image.size == (8, 8) and len(first.digest) == 20
    assert broken.image is None and broken.error == "b.png: not an image file (or a format Pillow cannot read)"
    memo.keep_only(["a"])
    assert list(memo.entries) == ["a"]
