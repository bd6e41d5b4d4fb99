"""Fixtures for the provider tests: the four fake vendors on loopback (one set per
session, reset before every test), tiny real media, and settings pointing at the fakes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.media import make_tone, make_video
from helpers.providers import SettingsFactory
from mediatasks.core.settings import Settings
from mediatasks.testing.fake_vendors import FakeVendors, running_fakes, settings_from_env


@pytest.fixture(scope="session")
def fakes() -> Iterator[FakeVendors]:
    with running_fakes() as vendors:
        yield vendors


@pytest.fixture(autouse=True)
def fresh_fakes(fakes: FakeVendors) -> FakeVendors:
    fakes.reset()
    return fakes


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("provider-media")


@pytest.fixture(scope="session")
def audio_path(media_dir: Path) -> Path:
    """2 s of 440 Hz tone as WAV (the fakes read its real duration)."""
    return make_tone(media_dir / "tone.wav", seconds=2.0, sample_rate=16000)


@pytest.fixture(scope="session")
def video_path(media_dir: Path) -> Path:
    """A 2 s 160x120 H.264/AAC MP4."""
    return make_video(media_dir / "clip.mp4", seconds=2.0, size=(160, 120), fps=10)


@pytest.fixture()
def make_settings(fakes: FakeVendors) -> SettingsFactory:
    """Settings pointing at the fakes; ``only=`` keeps just those vendors' variables."""

    def build(*, only: tuple[str, ...] | None = None, **overrides: object) -> Settings:
        env: dict[str, str] = {}
        for fake in fakes.all():
            if only is None or fake.name in only:
                env.update(fake.env())
        values: dict[str, object] = {
            **settings_from_env(env),
            "provider_timeout_seconds": 15.0,
            "circuit_failure_threshold": 3,
            "circuit_reset_seconds": 30.0,
        }
        values.update(overrides)
        return Settings(**values)  # type: ignore[arg-type]

    return build
