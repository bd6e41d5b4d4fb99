"""Proto image operations to the transform library's operation types."""

from __future__ import annotations

from mediatasks.core.errors import MediaTasksError, invalid_input
from mediatasks.image.transforms import (
    MAX_DIMENSION,
    Convert,
    Crop,
    Fit,
    Op,
    Pad,
    Resize,
    Rotate,
    Thumbnail,
    _parse_color,
)
from mediatasks.v1 import image_pb2


def _size(op: image_pb2.ImageOperation, index: int, *, both: bool) -> tuple[int, int]:
    if op.width < 0 or op.height < 0 or (both and not (op.width and op.height)) or not (op.width or op.height):
        need = "width and height" if both else "width or height"
        raise invalid_input(f"operations[{index}] ({op.op}) needs {need} > 0", field="operations")
    if op.width > MAX_DIMENSION or op.height > MAX_DIMENSION:
        raise invalid_input(
            f"operations[{index}] ({op.op}): width and height must be at most {MAX_DIMENSION} px",
            field="operations",
        )
    return op.width, op.height


def _background(op: image_pb2.ImageOperation, index: int) -> str:
    """The op's fill colour, checked now so a typo is a 400 at submit, not a failed task."""
    background = op.background or "#000000"
    try:
        _parse_color(background)  # the same parser the transform uses
    except MediaTasksError as exc:
        raise invalid_input(f"operations[{index}]: {exc.message}", field="operations") from None
    return background


def operations_of(request: image_pb2.TransformImageRequest) -> list[Op]:
    """The request's operations (and output format) as the library's steps, or
    ``INVALID_INPUT`` for an unknown op, a missing or oversized size, or a bad colour."""
    result: list[Op] = []
    for index, op in enumerate(request.operations):
        name = op.op.lower()
        if name == "resize":
            width, height = _size(op, index, both=False)
            result.append(Resize(width=width or None, height=height or None))
        elif name == "crop":
            width, height = _size(op, index, both=True)
            result.append(Crop(x=op.x, y=op.y, width=width, height=height))
        elif name == "fit":
            result.append(Fit(*_size(op, index, both=True)))
        elif name == "pad":
            result.append(Pad(*_size(op, index, both=True), background=_background(op, index)))
        elif name == "thumbnail":
            result.append(Thumbnail(*_size(op, index, both=True)))
        elif name == "rotate":
            result.append(Rotate(angle=op.angle, background=_background(op, index)))
        else:
            raise invalid_input(
                f"operations[{index}].op must be resize, crop, fit, pad, thumbnail or rotate (got {op.op!r})",
                field="operations",
            )
    if request.output_format:
        result.append(Convert(format=request.output_format.lower()))
    return result
