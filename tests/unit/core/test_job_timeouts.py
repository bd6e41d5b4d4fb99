"""MEDIATASKS_JOB_TIMEOUTS: a time limit per task type, the others keeping
MEDIATASKS_JOB_TIMEOUT_SECONDS; a value that is not ``type=seconds`` fails at start."""

from __future__ import annotations

import pytest
from mediatasks.core.settings import Settings
from pydantic import ValidationError


def test_a_type_named_has_its_own_limit_and_the_others_the_default() -> None:
    settings = Settings(job_timeout_seconds=600, job_timeouts="audio_transcription=14400, video_caption = 7200")
    assert settings.job_timeout_for("audio_transcription") == 14400
    assert settings.job_timeout_for("video_caption") == 7200
    assert settings.job_timeout_for("image_generation") == 600
    assert settings.longest_job_timeout() == 14400
    assert Settings(job_timeout_seconds=600).longest_job_timeout() == 600


@pytest.mark.parametrize(
    "value", ["audio_transcription", "audio_transcription=", "=60", "x=-5", "x=0", "x=soon", "x=inf"]
)
def test_a_value_that_is_not_type_equals_seconds_is_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="MEDIATASKS_JOB_TIMEOUTS"):
        Settings(job_timeouts=value)
