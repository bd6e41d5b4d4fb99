"""The proto caption style as the operations library's CaptionStyle."""

from __future__ import annotations

from typing import cast

from mediatasks.v1 import video_pb2
from mediatasks.video.operations import CaptionPosition, CaptionStyle


def caption_style_of(style: video_pb2.CaptionStyle) -> CaptionStyle:
    """The request's caption style with the library's defaults for unset fields."""
    defaults = CaptionStyle()
    return CaptionStyle(
        font_name=style.font_name or defaults.font_name,
        font_size=style.font_size or None,
        primary_color=style.primary_color or defaults.primary_color,
        outline_color=style.outline_color or defaults.outline_color,
        outline=style.outline or defaults.outline,
        bold=style.bold,
        # CaptionStyle refuses a position outside the Literal with INVALID_ARGUMENT.
        position=cast(CaptionPosition, (style.position or defaults.position).lower()),
        margin_v=style.margin_v or None,
    )
