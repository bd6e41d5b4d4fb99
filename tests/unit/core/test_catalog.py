"""The catalog is the one list of task types; everything else agrees with it."""

from __future__ import annotations

import pytest
from mediatasks.core import catalog, topology
from mediatasks.core.settings import SERVICES, Settings
from mediatasks.providers import base
from mediatasks.v1 import audio_pb2, video_pb2


def test_topology_subjects_and_consumers_come_from_the_catalog() -> None:
    assert topology.TASK_TYPES == {kind.task_type: kind.service for kind in catalog.KINDS.values()}


def test_every_service_of_the_catalog_has_an_address_setting() -> None:
    assert SERVICES == ("registry", *catalog.MEDIA_SERVICES)
    for service in SERVICES:
        assert Settings().service_addr(service).endswith(":50051")


def test_task_types_and_provider_operations_per_service() -> None:
    assert catalog.task_types_of("audio") == ("audio_transcription",)
    assert set(catalog.task_types_of("video")) == {
        "video_generation",
        "video_caption",
        "video_img2vid",
        "video_add_audio",
        "video_analysis",
    }
    assert set(catalog.provider_operations_of("subtitle")) == {catalog.TRANSLATION, base.AUDIO_TRANSCRIPTION}
    assert set(catalog.provider_operations_of("video")) == {
        base.VIDEO_GENERATION,
        base.VIDEO_ANALYSIS,
        base.AUDIO_TRANSCRIPTION,
    }
    assert catalog.provider_operations_of("nonexistent") == ()
    assert set(base.OPERATIONS) == set(catalog.PROVIDER_OPERATIONS)


def test_the_request_message_names_its_task_type() -> None:
    assert catalog.kind_for_request(video_pb2.BurnCaptionsRequest()).task_type == "video_caption"
    assert catalog.kind_for_request(audio_pb2.TranscribeRequest()).task_type == "audio_transcription"


def test_handlers_must_match_the_catalog() -> None:
    catalog.check_handlers("video", catalog.task_types_of("video"))
    with pytest.raises(RuntimeError, match=r"no handler for \['video_caption'\]"):
        catalog.check_handlers("video", [t for t in catalog.task_types_of("video") if t != "video_caption"])
    with pytest.raises(RuntimeError, match=r"unknown task types \['video_karaoke'\]"):
        catalog.check_handlers("video", [*catalog.task_types_of("video"), "video_karaoke"])


def test_an_offering_of_an_unknown_operation_is_refused() -> None:
    with pytest.raises(ValueError, match="no provider operation"):
        base.Offering("image_upscale", "m", quality=0.5, speed=0.5, cost=base.CostModel(0.0, "image"))


def test_unknown_task_type_is_invalid_input() -> None:
    with pytest.raises(Exception, match="unknown task_type"):
        catalog.kind_of("image_karaoke")
