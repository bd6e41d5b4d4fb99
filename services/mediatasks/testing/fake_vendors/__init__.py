"""Loopback servers speaking the cloud vendors' real wire formats.

Each fake runs in background threads on a free 127.0.0.1 port, so the official SDKs
(``openai``, ``assemblyai``, ``google-generativeai``, ``stability-sdk``) work against it
unchanged, from any event loop or none. Every fake is scriptable from tests::

    with FakeOpenAI() as openai_fake:
        settings = Settings(**settings_from_env(openai_fake.env()))
        openai_fake.fail(429, route="images", times=2)      # next two calls rate-limited
        openai_fake.hang(30, route="transcriptions")         # next call hangs (until hung up)
        openai_fake.reject_content(route="images")           # content-policy refusal
        ...
        assert openai_fake.count("images") == 3
        assert openai_fake.aborted == ["transcriptions"]     # the client hung up

``python -m mediatasks.testing.fake_vendors --all`` starts them all and prints the
``MEDIATASKS_*`` variables that point a deployment at them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from mediatasks.testing.fake_vendors._faults import Fault, RecordedCall
from mediatasks.testing.fake_vendors.assemblyai_api import FakeAssemblyAI
from mediatasks.testing.fake_vendors.gemini_api import FakeGemini
from mediatasks.testing.fake_vendors.openai_api import FakeOpenAI
from mediatasks.testing.fake_vendors.stability_api import FakeStability

__all__ = [
    "FakeAssemblyAI",
    "FakeGemini",
    "FakeOpenAI",
    "FakeStability",
    "FakeVendors",
    "Fault",
    "RecordedCall",
    "running_fakes",
    "settings_from_env",
]


@dataclass
class FakeVendors:
    """All four fakes, started together."""

    openai: FakeOpenAI
    stability: FakeStability
    gemini: FakeGemini
    assemblyai: FakeAssemblyAI

    def all(self) -> list[FakeOpenAI | FakeStability | FakeGemini | FakeAssemblyAI]:
        return [self.openai, self.stability, self.gemini, self.assemblyai]

    def env(self) -> dict[str, str]:
        """The ``MEDIATASKS_*`` variables pointing the project at every fake."""
        merged: dict[str, str] = {}
        for fake in self.all():
            merged.update(fake.env())
        return merged

    def reset(self) -> None:
        for fake in self.all():
            fake.reset()

    def stop(self) -> None:
        for fake in self.all():
            fake.stop()


@contextmanager
def running_fakes() -> Iterator[FakeVendors]:
    """Start every fake on free loopback ports; stop them on exit."""
    started: list[FakeOpenAI | FakeStability | FakeGemini | FakeAssemblyAI] = []
    try:
        openai_fake = FakeOpenAI().start()
        started.append(openai_fake)
        stability_fake = FakeStability().start()
        started.append(stability_fake)
        gemini_fake = FakeGemini().start()
        started.append(gemini_fake)
        assemblyai_fake = FakeAssemblyAI().start()
        started.append(assemblyai_fake)
        yield FakeVendors(openai_fake, stability_fake, gemini_fake, assemblyai_fake)
    finally:
        for fake in started:
            fake.stop()


def settings_from_env(env: Mapping[str, str]) -> dict[str, str]:
    """``MEDIATASKS_X=...`` variables as ``Settings(**kwargs)`` keyword arguments."""
    return {key.removeprefix("MEDIATASKS_").lower(): value for key, value in env.items()}
