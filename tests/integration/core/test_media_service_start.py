"""A media service whose job handlers differ from its catalog entries refuses to start."""

from __future__ import annotations

import dataclasses

import pytest
from mediatasks.cli.services import media_service
from mediatasks.media_service import start_media_service


@pytest.mark.parametrize(
    ("handlers", "message"),
    [
        (lambda real: {}, r"no handler for \['audio_transcription'\]"),
        (
            lambda real: {**real, "audio_karaoke": real["audio_transcription"]},
            r"unknown task types \['audio_karaoke'\]",
        ),
    ],
)
async def test_a_service_with_handlers_unlike_its_catalog_entries_refuses_to_start(
    service_settings, handlers, message
) -> None:
    audio = media_service("audio")
    broken = dataclasses.replace(audio, make_handlers=lambda parts: handlers(audio.make_handlers(parts)))
    with pytest.raises(RuntimeError, match=message):
        await start_media_service(broken, service_settings)
