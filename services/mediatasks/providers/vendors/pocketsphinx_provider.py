"""Local engines registered as providers, so some task types always work offline."""

from __future__ import annotations

import asyncio
import importlib.util

from mediatasks.media import sphinx
from mediatasks.providers.base import (
    AUDIO_TRANSCRIPTION,
    CallContext,
    CostModel,
    HealthStatus,
    Offering,
    Provider,
    ProviderSpec,
)
from mediatasks.providers.contracts import TranscriptionRequest, TranscriptionResult

NAME = "pocketsphinx"

SPEC = ProviderSpec(
    name=NAME,
    vendor="local",
    offerings=(
        Offering(
            AUDIO_TRANSCRIPTION,
            "pocketsphinx-en-us",
            quality=0.4,
            speed=0.5,
            cost=CostModel(0.0, "audio_minute"),
            capabilities={
                "languages": list(sphinx.SUPPORTED_LANGUAGES),
                "speaker_labels": False,
                "word_timestamps": True,
                "offline": True,
            },
        ),
    ),
)


class PocketSphinxProvider(Provider):
    """Offline English transcription (:func:`mediatasks.media.sphinx.transcribe`).

    Cancelling the calling task kills its ffmpeg and stops decoding; being local, the
    cancellation is always confirmed.
    """

    spec = SPEC

    async def health(self) -> HealthStatus:
        missing = [m for m in ("pocketsphinx", "imageio_ffmpeg") if importlib.util.find_spec(m) is None]
        if missing:
            return HealthStatus(False, f"missing Python packages: {', '.join(missing)}")
        return HealthStatus(True, "offline engine available")

    async def transcribe(self, request: TranscriptionRequest, ctx: CallContext | None = None) -> TranscriptionResult:
        async def report(percent: float) -> None:
            if ctx is not None:
                await ctx.progress(percent, "transcribing")

        try:
            transcript = await sphinx.transcribe(
                request.audio_path,
                timeout=self.deadline(ctx),
                on_progress=report,
                language=request.language,
            )
        except asyncio.CancelledError:
            if ctx is not None:
                ctx.cancel_confirmed = True
            raise
        return TranscriptionResult(
            transcript=transcript,
            provider=NAME,
            model=SPEC.offerings[0].model,
            cost_usd=0.0,
        )
