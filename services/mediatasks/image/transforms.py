"""Local image transforms with Pillow: resize, crop, fit, pad, thumbnail, rotate, convert.

:func:`transform_image` takes encoded bytes and a list of operations (small dataclasses,
applied in order) and returns the encoded result. Before anything else the EXIF
orientation is applied, so phone photos come out upright. Inputs and every intermediate
size are checked against a pixel limit (decompression-bomb guard), and corrupt or
unrecognised data fails with ``UNSUPPORTED_MEDIA``. CPU-bound and blocking: call it
from async code with ``asyncio.to_thread``.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import grpc
from PIL import Image, ImageOps, UnidentifiedImageError

from mediatasks.core.errors import MediaTasksError, invalid_input, unsupported_media

logger = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS = 50_000_000
DEFAULT_QUALITY = 85
MAX_DIMENSION = 16383  # WebP's limit, and far beyond any sensible output

# Output formats: Pillow's name and the content type.
FORMATS = {
    "png": ("PNG", "image/png"),
    "jpeg": ("JPEG", "image/jpeg"),
    "jpg": ("JPEG", "image/jpeg"),
    "webp": ("WEBP", "image/webp"),
    "gif": ("GIF", "image/gif"),
}
_PIL_TO_FORMAT = {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp", "GIF": "gif", "MPO": "jpeg"}


@dataclass(frozen=True)
class Resize:
    """Scale keeping the aspect ratio: to ``width`` or ``height``, or to fit inside both."""

    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class Crop:
    """Cut the box at (``x``, ``y``) of ``width`` × ``height`` (it must lie inside the image)."""

    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class Fit:
    """Cover: scale to fill ``width`` × ``height`` and crop the overflow around the centre."""

    width: int
    height: int


@dataclass(frozen=True)
class Pad:
    """Contain: scale to fit inside ``width`` × ``height`` and pad with ``background``
    (``#RRGGBB`` or ``#RRGGBBAA``; a transparent colour needs PNG/WebP/GIF output)."""

    width: int
    height: int
    background: str = "#000000"


@dataclass(frozen=True)
class Thumbnail:
    """Shrink to fit inside ``width`` × ``height``; never enlarges."""

    width: int
    height: int


@dataclass(frozen=True)
class Rotate:
    """Rotate counter-clockwise by ``angle`` degrees; the canvas grows to hold the result
    and new corners are filled with ``background``."""

    angle: float
    background: str = "#000000"


@dataclass(frozen=True)
class Convert:
    """Encode the result as ``format`` (png, jpeg, webp, gif)."""

    format: str


Op = Resize | Crop | Fit | Pad | Thumbnail | Rotate | Convert


def _input_too_large(message: str, max_pixels: int) -> MediaTasksError:
    # Same reason and HTTP status as errors.too_large, but the limit is in pixels.
    return MediaTasksError(
        grpc.StatusCode.INVALID_ARGUMENT,
        "INPUT_TOO_LARGE",
        message,
        metadata={"limit_pixels": str(max_pixels)},
        http_status=413,
    )


_COLOR = re.compile(r"^#?([0-9a-fA-F]{6})([0-9a-fA-F]{2})?$")


def _parse_color(value: str) -> tuple[int, int, int, int]:
    match = _COLOR.match(value.strip())
    if not match:
        raise invalid_input(f"background must be #RRGGBB or #RRGGBBAA, got {value!r}")
    rgb, alpha = match.group(1), match.group(2) or "ff"
    return int(rgb[0:2], 16), int(rgb[2:4], 16), int(rgb[4:6], 16), int(alpha, 16)


def _check_size(width: int, height: int, max_pixels: int, what: str) -> None:
    if width < 1 or height < 1:
        raise invalid_input(f"{what} must be at least 1x1 pixels, got {width}x{height}")
    if width > MAX_DIMENSION or height > MAX_DIMENSION:
        raise invalid_input(f"{what} {width}x{height} exceeds {MAX_DIMENSION} px per side")
    if width * height > max_pixels:
        raise _input_too_large(
            f"{what} would be {width}x{height} = {width * height / 1e6:.1f} MP, over the {max_pixels / 1e6:g} MP limit",
            max_pixels,
        )


def _positive(value: int | None, name: str) -> int | None:
    if value is None or value == 0:
        return None
    if value < 0:
        raise invalid_input(f"{name} must be positive, got {value}")
    return int(value)


def _open(source: bytes | Path, max_pixels: int) -> Image.Image:
    """Open an encoded image from bytes or from a file (read by Pillow as it decodes, not
    loaded into memory first)."""
    if (source.stat().st_size if isinstance(source, Path) else len(source)) == 0:
        raise unsupported_media("the image is empty (0 bytes)")
    try:
        # Pillow warns above its own ~89 MP default and raises above twice that; our
        # limit (checked just below, before any pixel is decoded) is usually lower.
        image = Image.open(source if isinstance(source, Path) else io.BytesIO(source))
    except Image.DecompressionBombError:
        pillow_limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
        limit = min(max_pixels, pillow_limit) if pillow_limit else max_pixels
        raise _input_too_large(
            f"the image header claims a size over the {limit / 1e6:g} MP limit (decompression bomb guard)",
            limit,
        ) from None
    except UnidentifiedImageError:
        raise unsupported_media("the data is not an image format Pillow recognises") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise unsupported_media(f"the image header is corrupt: {exc}") from None
    _check_size(image.width, image.height, max_pixels, "the input image")
    try:
        image.load()  # decode now: truncated or corrupt data fails here, not later
    except Image.DecompressionBombError:
        raise _input_too_large(f"the image is over the {max_pixels / 1e6:g} MP limit", max_pixels) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise unsupported_media(f"the image data is corrupt or truncated: {exc}") from None
    return image


def _normalise_mode(image: Image.Image) -> Image.Image:
    """RGB, or RGBA when the image has transparency, so every op behaves the same."""
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    if has_alpha:
        return image.convert("RGBA") if image.mode != "RGBA" else image
    if image.mode.startswith("I;16") or image.mode == "I":  # 16-bit grey: keep the top 8 bits
        image = image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    return image.convert("RGB") if image.mode != "RGB" else image


def _fill(image: Image.Image, color: tuple[int, int, int, int]) -> tuple[Image.Image, tuple]:
    """The image in a mode that can hold ``color`` (RGBA if it is not opaque)."""
    if color[3] < 255 and image.mode != "RGBA":
        image = image.convert("RGBA")
    return image, color if image.mode == "RGBA" else color[:3]


def _apply(image: Image.Image, op: Op, max_pixels: int) -> Image.Image:
    resample = Image.Resampling.LANCZOS
    if isinstance(op, Resize):
        width, height = _positive(op.width, "width"), _positive(op.height, "height")
        if width is None and height is None:
            raise invalid_input("resize needs a width or a height")
        scale = min(
            width / image.width if width else float("inf"),
            height / image.height if height else float("inf"),
        )
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        _check_size(*size, max_pixels, "the resized image")
        return image.resize(size, resample)
    if isinstance(op, Crop):
        if op.x < 0 or op.y < 0 or op.width < 1 or op.height < 1:
            raise invalid_input("crop needs x, y >= 0 and a positive width and height")
        if op.x + op.width > image.width or op.y + op.height > image.height:
            raise invalid_input(
                f"crop box {op.x},{op.y} {op.width}x{op.height} is outside the {image.width}x{image.height} image"
            )
        return image.crop((op.x, op.y, op.x + op.width, op.y + op.height))
    if isinstance(op, Fit):
        _check_size(op.width, op.height, max_pixels, "the fitted image")
        return ImageOps.fit(image, (op.width, op.height), resample, centering=(0.5, 0.5))
    if isinstance(op, Pad):
        _check_size(op.width, op.height, max_pixels, "the padded image")
        image, color = _fill(image, _parse_color(op.background))
        return ImageOps.pad(image, (op.width, op.height), resample, color=color)
    if isinstance(op, Thumbnail):
        _check_size(op.width, op.height, max_pixels, "the thumbnail box")
        thumb = image.copy()
        thumb.thumbnail((op.width, op.height), resample)
        return thumb
    if isinstance(op, Rotate):
        image, color = _fill(image, _parse_color(op.background))
        angle = op.angle % 360
        if angle in (90, 180, 270):  # exact, lossless
            transpose = {
                90: Image.Transpose.ROTATE_90,
                180: Image.Transpose.ROTATE_180,
                270: Image.Transpose.ROTATE_270,
            }
            return image.transpose(transpose[int(angle)])
        rotated = image.rotate(angle, Image.Resampling.BICUBIC, expand=True, fillcolor=color)
        _check_size(rotated.width, rotated.height, max_pixels, "the rotated image")
        return rotated
    if isinstance(op, Convert):
        return image  # changes only the output format, handled in transform_image
    raise invalid_input(f"unknown image operation {type(op).__name__}")


def _output_format(requested: str | None, operations: list[Op], source: str | None) -> str:
    conversions = [op.format for op in operations if isinstance(op, Convert)]
    chosen = [fmt.lower().strip() for fmt in (*conversions, requested or "") if fmt]
    if len(set(FORMATS[fmt][0] if fmt in FORMATS else fmt for fmt in chosen)) > 1:
        raise invalid_input(f"conflicting output formats: {', '.join(chosen)}")
    fmt = chosen[0] if chosen else _PIL_TO_FORMAT.get(source or "", "png")
    if fmt not in FORMATS:
        raise invalid_input(f"output format must be png, jpeg, webp or gif, got {fmt!r}")
    return fmt


def _encode(image: Image.Image, fmt: str, quality: int) -> bytes:
    pil_format, _ = FORMATS[fmt]
    params: dict[str, object] = {}
    if pil_format == "JPEG":
        if image.mode == "RGBA":  # JPEG has no alpha: flatten onto white
            flat = Image.new("RGB", image.size, (255, 255, 255))
            flat.paste(image, mask=image.getchannel("A"))
            image = flat
        params = {"quality": quality, "optimize": True, "progressive": True}
    elif pil_format == "WEBP":
        params = {"quality": quality, "method": 4}
    elif pil_format == "PNG":
        params = {"optimize": True}
    elif pil_format == "GIF":
        image = image.convert("RGBA").quantize(255) if image.mode == "RGBA" else image.quantize(256)
    buffer = io.BytesIO()
    try:
        image.save(buffer, format=pil_format, **params)
    except (OSError, ValueError) as exc:
        raise invalid_input(f"could not encode the image as {fmt}: {exc}") from None
    return buffer.getvalue()


def transform_image(
    data: bytes | Path,
    *,
    operations: list[Op] | tuple[Op, ...] = (),
    output_format: str | None = None,
    quality: int = DEFAULT_QUALITY,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tuple[bytes, str, int, int]:
    """Apply ``operations`` in order to an encoded image; return
    ``(encoded bytes, content type, width, height)``.

    The output format is the last :class:`Convert` op's, else ``output_format``, else
    the input's (PNG if the input's format cannot be written); two different requested
    formats are ``INVALID_INPUT``. ``quality`` (1–100) applies to JPEG and WebP. Animated
    inputs keep their first frame. Images over ``max_pixels`` (input or any step) raise
    ``INPUT_TOO_LARGE`` naming the limit; data Pillow cannot decode raises
    ``UNSUPPORTED_MEDIA``.
    """
    if not 1 <= quality <= 100:
        raise invalid_input(f"quality must be between 1 and 100, got {quality}")
    if max_pixels < 1:
        raise invalid_input("max_pixels must be positive")
    operations = list(operations)
    image = _open(data, max_pixels)
    fmt = _output_format(output_format, operations, image.format)
    try:
        # EXIF orientation first: every later box and size refers to the upright image.
        image = ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError) as exc:
        logger.info("ignoring unreadable EXIF orientation: %s", exc)
    image = _normalise_mode(image)
    for op in operations:
        image = _apply(image, op, max_pixels)
    encoded = _encode(image, fmt, quality)
    return encoded, FORMATS[fmt][1], image.width, image.height
