"""Offerings per model (issue 12 item 3), over the real provider specs (no network): each
model's own sizes, and a pinned model routed to a provider that offers it or refused
naming what is offered."""

from __future__ import annotations

import grpc
import pytest
from mediatasks.core.errors import MediaTasksError
from mediatasks.core.settings import Settings
from mediatasks.providers.base import AUDIO_TRANSCRIPTION, IMAGE_GENERATION, VIDEO_ANALYSIS
from mediatasks.providers.contracts import ImageGenerationRequest, TranscriptionRequest
from mediatasks.providers.operations import check_transcription
from mediatasks.providers.router import ProviderRouter
from mediatasks.providers.vendors import default_providers

ALL_KEYS = {
    "openai_api_key": "sk-unit-openai",
    "stability_api_key": "sk-unit-stability",
    "gemini_api_key": "unit-gemini",
    "assemblyai_api_key": "unit-assemblyai",
}


def router(**keys: str) -> ProviderRouter:
    settings = Settings(**keys)  # type: ignore[arg-type]
    return ProviderRouter(settings, default_providers(settings))


def image(size: str, model: str | None = None, n: int = 1) -> dict:
    return ImageGenerationRequest("a fox", size=size, model=model, n=n).requirements()


@pytest.mark.parametrize(
    ("model", "size"),
    [
        ("dall-e-2", "256x256"),
        ("dall-e-2", "512x512"),
        ("dall-e-2", "1024x1024"),
        ("dall-e-3", "1024x1024"),
        ("dall-e-3", "1792x1024"),
        ("dall-e-3", "1024x1792"),
        ("gpt-image-2", "1536x1024"),
        ("gpt-image-1", "1024x1536"),
    ],
)
def test_each_image_model_takes_its_own_sizes(model, size):
    providers = router(**ALL_KEYS)
    providers.ensure_available(IMAGE_GENERATION, image(size, model))
    assert [p.name for p, _ in providers.candidates(IMAGE_GENERATION, require=image(size, model))] == ["openai"]


@pytest.mark.parametrize(
    ("model", "size", "n", "why"),
    [
        ("dall-e-2", "1792x1024", 1, "size 1792x1024 not supported with model dall-e-2"),
        ("dall-e-3", "512x512", 1, "size 512x512 not supported with model dall-e-3"),
        ("dall-e-3", "1024x1024", 2, "n 2 exceeds 1 with model dall-e-3"),
    ],
)
def test_a_size_the_pinned_model_lacks_is_refused_naming_it(model, size, n, why):
    with pytest.raises(MediaTasksError) as refused:
        router(**ALL_KEYS).ensure_available(IMAGE_GENERATION, image(size, model, n))
    assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert why in refused.value.message
    assert f"gemini: model {model} not offered (offers gemini-2.5-flash-image)" in refused.value.message


def test_a_size_only_another_model_makes_names_that_model():
    with pytest.raises(MediaTasksError) as refused:
        router(**ALL_KEYS).ensure_available(IMAGE_GENERATION, image("1792x1024"))
    assert "openai: size 1792x1024 not supported by default; pin model dall-e-3" in refused.value.message


def test_a_pinned_whisper_1_goes_to_openai_never_to_assemblyai():
    providers = router(**ALL_KEYS)
    require = TranscriptionRequest("a.wav", model="whisper-1").requirements()
    assert [p.name for p, _ in providers.candidates(AUDIO_TRANSCRIPTION, require=require)] == ["openai"]
    assert providers.select(AUDIO_TRANSCRIPTION, "cost", require=require).name == "openai"
    # AssemblyAI's own models go to AssemblyAI.
    slam = TranscriptionRequest("a.wav", model="slam-1").requirements()
    assert [p.name for p, _ in providers.candidates(AUDIO_TRANSCRIPTION, require=slam)] == ["assemblyai"]


def test_whisper_1_without_openai_configured_names_the_openai_key():
    with pytest.raises(MediaTasksError) as refused:
        check_transcription(router(assemblyai_api_key="k"), None, model="whisper-1")
    assert refused.value.reason == "PROVIDER_NOT_CONFIGURED"
    assert refused.value.metadata["settings"] == "MEDIATASKS_OPENAI_API_KEY"


def test_a_model_nobody_offers_is_refused_listing_what_each_offers():
    with pytest.raises(MediaTasksError) as refused:
        check_transcription(router(**ALL_KEYS), None, model="no-such-model")
    message = refused.value.message
    assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "openai: model no-such-model not offered (offers whisper-1, gpt-4o-transcribe-diarize)" in message
    assert "assemblyai: model no-such-model not offered (offers universal, best, nano, slam-1, universal-2)" in message


def test_whisper_1_does_not_separate_speakers_but_the_default_choice_does():
    providers = router(openai_api_key="k")
    providers.ensure_available(AUDIO_TRANSCRIPTION, {"speaker_labels": True})
    with pytest.raises(MediaTasksError) as refused:
        providers.ensure_available(AUDIO_TRANSCRIPTION, {"speaker_labels": True, "model": "whisper-1"})
    assert "speaker_labels not supported with model whisper-1" in refused.value.message


def test_chat_models_pin_their_vendor():
    providers = router(**ALL_KEYS)
    gpt = [p.name for p, _ in providers.candidates(VIDEO_ANALYSIS, require={"model": "gpt-4.1-mini"})]
    gemini = [p.name for p, _ in providers.candidates(VIDEO_ANALYSIS, require={"model": "gemini-2.5-pro"})]
    assert gpt == ["openai"] and gemini == ["gemini"]


def test_the_snapshot_lists_every_model_with_its_capabilities():
    openai = next(p for p in router(**ALL_KEYS).snapshot() if p["name"] == "openai")
    offering = next(o for o in openai["offerings"] if o["task_type"] == IMAGE_GENERATION)
    assert offering["models"]["dall-e-3"]["sizes"] == ["1024x1024", "1792x1024", "1024x1792"]
    assert offering["models"]["dall-e-2"]["sizes"] == ["256x256", "512x512", "1024x1024"]
    assert offering["models"]["gpt-image-2"]["sizes"] == offering["capabilities"]["sizes"]
