"""The vendor adapters, one module each, and the list the platform ships.

Vendor SDKs are imported when their adapter module is, i.e. by :func:`default_providers`,
so a process that never routes to a vendor never pays for importing its SDK.
"""

from __future__ import annotations

from mediatasks.core.settings import Settings
from mediatasks.providers.base import Provider


def default_providers(settings: Settings) -> list[Provider]:
    """Every provider the project ships, configured or not (the router only picks
    configured ones, and its snapshot shows the others with the variables to set).

    Offline speech to text is Whisper (:mod:`.whisper_provider`). PocketSphinx is no
    transcription provider: Whisper tiny.en transcribes the same speech far better and as
    fast; PocketSphinx stays only for forced alignment of given text
    (:mod:`mediatasks.subtitle.align`), which Whisper does not do."""
    # lazy: each adapter imports its vendor's SDK, which only a routing process should pay for
    from mediatasks.providers.vendors.assemblyai_provider import AssemblyAIProvider
    from mediatasks.providers.vendors.gemini_provider import GeminiProvider
    from mediatasks.providers.vendors.openai_provider import OpenAIProvider
    from mediatasks.providers.vendors.stability_provider import StabilityProvider
    from mediatasks.providers.vendors.whisper_provider import WhisperProvider

    return [
        OpenAIProvider(settings),
        StabilityProvider(settings),
        GeminiProvider(settings),
        AssemblyAIProvider(settings),
        WhisperProvider(settings),
    ]
