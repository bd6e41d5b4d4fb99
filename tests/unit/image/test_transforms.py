"""transform_image on real encoded images made with Pillow."""

from __future__ import annotations

import io
import struct
import time
import zlib

import pytest
from helpers.media import image_bytes
from mediatasks.core.errors import MediaTasksError
from mediatasks.image.transforms import (
    Convert,
    Crop,
    Fit,
    Pad,
    Resize,
    Rotate,
    Thumbnail,
    transform_image,
)
from PIL import Image


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def halves(size: tuple[int, int] = (200, 100), fmt: str = "PNG", **kwargs) -> bytes:
    """Left half red, right half blue."""
    image = Image.new("RGB", size, (255, 0, 0))
    image.paste((0, 0, 255), (size[0] // 2, 0, size[0], size[1]))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def near(pixel, expected, tolerance: int = 30) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], expected, strict=True))


def test_resize_keeps_aspect_ratio() -> None:
    data, content_type, width, height = transform_image(image_bytes((400, 300)), operations=[Resize(width=200)])
    assert (width, height) == (200, 150) and decode(data).size == (200, 150)
    assert content_type == "image/png"  # the input's format by default
    _, _, width, height = transform_image(image_bytes((400, 300)), operations=[Resize(height=60)])
    assert (width, height) == (80, 60)
    _, _, width, height = transform_image(image_bytes((400, 300)), operations=[Resize(width=100, height=100)])
    assert (width, height) == (100, 75)  # fits inside the box


def test_crop_takes_the_box() -> None:
    data, _, width, height = transform_image(halves(), operations=[Crop(x=110, y=10, width=50, height=40)])
    assert (width, height) == (50, 40)
    image = decode(data).convert("RGB")
    assert all(near(image.getpixel((x, y)), (0, 0, 255)) for x in (0, 49) for y in (0, 39))


def test_fit_covers_and_pad_contains() -> None:
    data, _, width, height = transform_image(halves(), operations=[Fit(width=100, height=100)])
    fitted = decode(data).convert("RGB")
    assert (width, height) == (100, 100)
    assert near(fitted.getpixel((5, 50)), (255, 0, 0)) and near(fitted.getpixel((95, 50)), (0, 0, 255))

    data, _, width, height = transform_image(halves(), operations=[Pad(width=100, height=100, background="#00FF00")])
    padded = decode(data).convert("RGB")
    assert (width, height) == (100, 100)
    # 200x100 contained in 100x100 is 100x50 in the middle: green bars above and below
    assert near(padded.getpixel((50, 5)), (0, 255, 0)) and near(padded.getpixel((50, 95)), (0, 255, 0))
    assert near(padded.getpixel((10, 50)), (255, 0, 0)) and near(padded.getpixel((90, 50)), (0, 0, 255))


def test_transparent_pad_keeps_alpha_in_png() -> None:
    data, _, _, _ = transform_image(
        halves(),
        operations=[Pad(width=100, height=100, background="#00000000")],
        output_format="png",
    )
    padded = decode(data)
    assert padded.mode == "RGBA" and padded.getpixel((50, 5))[3] == 0 and padded.getpixel((50, 50))[3] == 255


def test_thumbnail_never_enlarges() -> None:
    _, _, width, height = transform_image(image_bytes((400, 300)), operations=[Thumbnail(100, 100)])
    assert (width, height) == (100, 75)
    _, _, width, height = transform_image(image_bytes((40, 30)), operations=[Thumbnail(100, 100)])
    assert (width, height) == (40, 30)


@pytest.mark.parametrize(
    ("fmt", "content_type", "pil_format"),
    [
        ("png", "image/png", "PNG"),
        ("jpeg", "image/jpeg", "JPEG"),
        ("jpg", "image/jpeg", "JPEG"),
        ("webp", "image/webp", "WEBP"),
        ("gif", "image/gif", "GIF"),
    ],  # fmt: skip
)
def test_convert_formats(fmt: str, content_type: str, pil_format: str) -> None:
    source = image_bytes((64, 48), (10, 200, 30, 128), mode="RGBA")  # translucent
    for kwargs in ({"operations": [Convert(fmt)]}, {"output_format": fmt}):
        data, got_type, width, height = transform_image(source, quality=80, **kwargs)
        image = decode(data)
        assert got_type == content_type and image.format == pil_format
        assert (width, height) == image.size == (64, 48)


def test_jpeg_quality_changes_size() -> None:
    noisy = Image.effect_noise((128, 128), 80).convert("RGB")
    buffer = io.BytesIO()
    noisy.save(buffer, "PNG")
    low, *_ = transform_image(buffer.getvalue(), output_format="jpeg", quality=20)
    high, *_ = transform_image(buffer.getvalue(), output_format="jpeg", quality=95)
    assert len(low) < len(high)


def test_rotate() -> None:
    data, _, width, height = transform_image(halves(), operations=[Rotate(90)])
    rotated = decode(data).convert("RGB")
    assert (width, height) == (100, 200)
    # counter-clockwise: the left (red) half ends up at the bottom
    assert near(rotated.getpixel((50, 190)), (255, 0, 0)) and near(rotated.getpixel((50, 10)), (0, 0, 255))
    _, _, width, height = transform_image(halves(), operations=[Rotate(45)])
    assert width > 200 and height > 200  # the canvas grows to hold the corners


def test_exif_orientation_is_applied_first() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display": the left half becomes the top
    photo = halves((200, 100), "JPEG", exif=exif.tobytes(), quality=95)
    assert Image.open(io.BytesIO(photo)).size == (200, 100)  # as stored
    data, content_type, width, height = transform_image(photo)
    upright = decode(data).convert("RGB")
    assert content_type == "image/jpeg" and (width, height) == (100, 200)
    assert near(upright.getpixel((50, 20)), (255, 0, 0)) and near(upright.getpixel((50, 180)), (0, 0, 255))
    assert upright.getexif().get(0x0112, 1) == 1  # no orientation left to apply twice
    # a crop box refers to the upright image
    data, *_ = transform_image(photo, operations=[Crop(x=0, y=0, width=100, height=100)])
    assert near(decode(data).convert("RGB").getpixel((50, 50)), (255, 0, 0))


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a size in its header (no pixel data): a decompression bomb's shape."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


@pytest.mark.parametrize("max_pixels", [50_000_000, 1_000_000_000])
def test_decompression_bomb_is_refused_without_decoding(max_pixels: int) -> None:
    bomb = _png_header_only(30_000, 30_000)  # 900 MP
    started = time.monotonic()
    with pytest.raises(MediaTasksError) as caught:
        transform_image(bomb, max_pixels=max_pixels)
    assert time.monotonic() - started < 1
    assert caught.value.reason == "INPUT_TOO_LARGE" and caught.value.http_status == 413
    assert "MP" in caught.value.message


def test_pixel_limit_applies_to_input_and_to_every_step() -> None:
    with pytest.raises(MediaTasksError) as caught:
        transform_image(image_bytes((200, 100)), max_pixels=10_000)
    assert caught.value.reason == "INPUT_TOO_LARGE"
    assert "0.01 MP limit" in caught.value.message
    assert caught.value.metadata["limit_pixels"] == "10000"
    with pytest.raises(MediaTasksError) as caught:
        transform_image(image_bytes((20, 10)), operations=[Resize(width=10_000)], max_pixels=1_000_000)
    assert caught.value.reason == "INPUT_TOO_LARGE"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"not an image at all" * 10, id="text"),
        pytest.param(image_bytes((300, 300), format="PNG")[:200], id="truncated-png"),
        pytest.param(halves((300, 300), "JPEG")[:600], id="truncated-jpeg"),
        pytest.param(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, id="png-signature-garbage"),
    ],
)
def test_corrupt_data_is_unsupported_media(data: bytes) -> None:
    with pytest.raises(MediaTasksError) as caught:
        transform_image(data, operations=[Resize(width=10)])
    assert caught.value.reason == "UNSUPPORTED_MEDIA", caught.value


@pytest.mark.parametrize(
    ("operations", "kwargs"),
    [
        ([Crop(x=150, y=0, width=100, height=10)], {}),  # outside the image
        ([Resize()], {}),
        ([Resize(width=-5)], {}),
        ([Pad(width=10, height=10, background="green")], {}),
        ([Convert("bmp")], {}),
        ([Convert("png")], {"output_format": "jpeg"}),
        ([], {"quality": 0}),
    ],
)
def test_invalid_operations_are_invalid_input(operations, kwargs) -> None:
    with pytest.raises(MediaTasksError) as caught:
        transform_image(halves(), operations=operations, **kwargs)
    assert caught.value.reason == "INVALID_INPUT", caught.value


def test_operations_apply_in_order_and_animated_gif_keeps_first_frame() -> None:
    frames = [Image.new("RGB", (80, 40), color) for color in ("red", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100)
    data, content_type, width, height = transform_image(
        buffer.getvalue(),
        operations=[Resize(width=40), Crop(x=0, y=0, width=20, height=20), Rotate(90)],
    )
    image = decode(data).convert("RGB")
    assert content_type == "image/gif" and (width, height) == (20, 20)
    assert near(image.getpixel((10, 10)), (255, 0, 0))
