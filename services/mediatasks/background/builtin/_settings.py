"""The background settings of the worker process a built-in handler runs in."""

from __future__ import annotations

from mediatasks.background.settings import BackgroundSettings, background_settings
from mediatasks.worker import BackgroundTask

_cache: dict[int, BackgroundSettings] = {}


def settings_of(task: BackgroundTask) -> BackgroundSettings:
    """The worker's settings with the background knobs (built once per settings object)."""
    base = task.context.settings
    key = id(base)
    if key not in _cache:
        _cache[key] = background_settings(base)
    return _cache[key]
