"""``python -m mediatasks.testing.fake_vendors --all``: a new user's way to try every
provider without accounts. The printed variables must drive the real adapters."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from mediatasks.core.settings import Settings
from mediatasks.providers.contracts import (
    ImageGenerationRequest,
    TranscriptionRequest,
    TranslationRequest,
)
from mediatasks.providers.operations import generate_image, transcribe, translate
from mediatasks.providers.router import ProviderRouter
from mediatasks.providers.vendors import default_providers
from mediatasks.testing.fake_vendors import settings_from_env

EXPECTED = {
    "MEDIATASKS_OPENAI_API_KEY",
    "MEDIATASKS_OPENAI_BASE_URL",
    "MEDIATASKS_STABILITY_API_KEY",
    "MEDIATASKS_STABILITY_HOST",
    "MEDIATASKS_GEMINI_API_KEY",
    "MEDIATASKS_GEMINI_BASE_URL",
    "MEDIATASKS_ASSEMBLYAI_API_KEY",
    "MEDIATASKS_ASSEMBLYAI_BASE_URL",
}


async def test_all_fakes_start_print_their_settings_and_stop_on_sigint(audio_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-W",
        "ignore",
        "-m",
        "mediatasks.testing.fake_vendors",
        "--all",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    registry: ProviderRouter | None = None
    try:
        assert process.stdout is not None
        header = await asyncio.wait_for(process.stdout.readline(), 60)
        assert header.startswith(b"# fake vendors: openai, stability, gemini, assemblyai")
        env: dict[str, str] = {}
        while set(env) != EXPECTED:
            line = (await asyncio.wait_for(process.stdout.readline(), 10)).decode().strip()
            assert line.startswith("export "), line
            key, _, value = line.removeprefix("export ").partition("=")
            env[key] = value
        assert all("127.0.0.1:" in env[k] for k in EXPECTED if not k.endswith("_API_KEY"))

        settings = Settings(**settings_from_env(env), provider_timeout_seconds=15)  # type: ignore[arg-type]
        registry = ProviderRouter(settings, default_providers(settings))
        for strategy, vendor in (("quality", "openai"), ("cost", "stability")):
            image = await generate_image(registry, ImageGenerationRequest("x"), strategy=strategy)
            assert image.provider == vendor
        text = await transcribe(registry, TranscriptionRequest(str(audio_path)), strategy="quality")
        assert text.provider == "assemblyai" and text.words
        translated = await translate(registry, TranslationRequest(("hi",), "it"), strategy="speed")
        assert translated.provider == "gemini" and translated.texts == ["[it] hi"]
    finally:
        if registry is not None:
            await registry.aclose()
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(process.wait(), 15)
    assert code == 0
