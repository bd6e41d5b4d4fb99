"""The media services by name (``mediatasks serve <name>``)."""

from __future__ import annotations

import importlib

from mediatasks.media_service import MediaService


def media_service(name: str) -> MediaService:
    """The :class:`MediaService` of ``name`` (image, video, audio or subtitle)."""
    module = importlib.import_module(f"mediatasks.{name}.service")
    return module.SERVICE
