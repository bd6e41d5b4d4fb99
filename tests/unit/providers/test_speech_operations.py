"""The provider layer's speech-to-text entry points: submit-time checks that name what to
configure for a language, pins of multi-operation jobs, and the accounting of a job that
called several providers (real provider specs; nothing contacts a vendor)."""

from __future__ import annotations

import grpc
import pytest
from mediatasks.core.errors import MediaTasksError
from mediatasks.core.settings import Settings
from mediatasks.providers.base import AUDIO_TRANSCRIPTION, TRANSLATION, VIDEO_ANALYSIS
from mediatasks.providers.operations import check_transcription, combine_calls, pin_for
from mediatasks.providers.router import ProviderRouter
from mediatasks.providers.vendors import default_providers


def router(**settings: str) -> ProviderRouter:
    values = Settings(**settings)  # type: ignore[arg-type]
    return ProviderRouter(values, default_providers(values))


def refusal(call) -> MediaTasksError:
    with pytest.raises(MediaTasksError) as raised:
        call()
    return raised.value


def test_english_and_detection_need_no_key_other_languages_name_what_to_set() -> None:
    keyless = router()
    for language in (None, "en", "EN-gb"):
        check_transcription(keyless, language, word_timestamps=True)
    error = refusal(lambda: check_transcription(keyless, "fr", word_timestamps=True))
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION and error.reason == "PROVIDER_NOT_CONFIGURED"
    assert set(error.metadata["settings"].split(",")) == {"MEDIATASKS_OPENAI_API_KEY", "MEDIATASKS_ASSEMBLYAI_API_KEY"}
    assert error.metadata["language"] == "fr"
    assert "'fr'" in error.message and "MEDIATASKS_WHISPER_MODEL_PATH" in error.message
    # With a vendor that speaks it, the same request is accepted.
    check_transcription(router(assemblyai_api_key="k"), "es-MX")
    # Unknown strategies and provider names are the client's mistake.
    assert refusal(lambda: check_transcription(keyless, None, strategy="fastest")).reason == "INVALID_INPUT"
    assert refusal(lambda: check_transcription(keyless, None, only="nope")).reason == "INVALID_INPUT"


def test_speaker_labels_still_need_a_cloud_provider() -> None:
    error = refusal(lambda: check_transcription(router(), "en", speaker_labels=True))
    assert error.reason == "PROVIDER_NOT_CONFIGURED"


def test_a_pin_holds_for_each_operation_the_provider_offers() -> None:
    providers = router()
    both = (AUDIO_TRANSCRIPTION, TRANSLATION)
    assert pin_for(providers, None, AUDIO_TRANSCRIPTION, both) is None
    assert pin_for(providers, "openai", AUDIO_TRANSCRIPTION, both) == "openai"
    assert pin_for(providers, "openai", TRANSLATION, both) == "openai"
    # AssemblyAI transcribes but does not translate: the translation routes freely...
    assert pin_for(providers, "assemblyai", AUDIO_TRANSCRIPTION, both) == "assemblyai"
    assert pin_for(providers, "assemblyai", TRANSLATION, both) is None
    # ...unless it offers nothing the job does, which the router then refuses by name.
    assert pin_for(providers, "assemblyai", TRANSLATION, (TRANSLATION,)) == "assemblyai"
    assert pin_for(providers, "stability", VIDEO_ANALYSIS, (AUDIO_TRANSCRIPTION, VIDEO_ANALYSIS)) == "stability"
    assert pin_for(providers, "nope", AUDIO_TRANSCRIPTION, both) == "nope"


def test_a_job_of_several_calls_names_each_provider_once_and_adds_the_costs() -> None:
    assert combine_calls([]) == ("local", "", 0.0)
    assert combine_calls([("whisper", "whisper-tiny.en", 0.0), ("openai", "gpt-5.4-mini", 0.0012)]) == (
        "whisper+openai",
        "whisper-tiny.en+gpt-5.4-mini",
        0.0012,
    )
    assert combine_calls([("openai", "whisper-1", 0.01), ("openai", "gpt-5.4-mini", 0.002)])[:2] == (
        "openai",
        "whisper-1+gpt-5.4-mini",
    )
