"""Job arguments to request bodies: local files marked for upload, URLs and ids passed on."""

from __future__ import annotations

from pathlib import Path

import pytest
from google.api import annotations_pb2
from mediatasks.client.jobs import BY_TASK_TYPE, JOBS, job_for, prepare
from mediatasks.core.catalog import KINDS

ARTIFACT = "0123456789abcdef0123456789abcdef"


def test_every_media_task_type_of_the_catalog_has_a_client_method() -> None:
    media = {name: kind for name, kind in KINDS.items() if kind.service in ("image", "video", "audio", "subtitle")}
    assert set(BY_TASK_TYPE) == set(media)
    assert len({(job.namespace, job.name) for job in JOBS}) == len(JOBS)
    for name, kind in media.items():
        job = BY_TASK_TYPE[name]
        assert job.grpc_method == kind.method
        assert job.request_message == kind.request.DESCRIPTOR.full_name
        assert job.grpc_service == kind.request.DESCRIPTOR.file.package + "." + kind.service.title() + "Service"
        service = kind.request.DESCRIPTOR.file.services_by_name[job.grpc_service.rsplit(".", 1)[-1]]
        rule = service.methods_by_name[kind.method].GetOptions().Extensions[annotations_pb2.http]
        assert rule.post == job.path
        # Every file argument names a real field of the request.
        fields = set(kind.request.DESCRIPTOR.fields_by_name)
        for spec in job.files.values():
            assert spec.url_field in fields and (not spec.text_field or spec.text_field in fields)


def test_caption_uploads_a_local_video_and_sends_text_inline(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"not really a video")
    prepared = prepare(
        job_for("videos.caption"), {"video": str(video), "subtitles": "1\n00:00:00,000 --> ...", "priority": "high"}
    )
    assert prepared.uploads == [(("video_url",), video)]
    assert prepared.body["subtitles"].startswith("1\n") and "subtitles_url" not in prepared.body
    assert prepared.body["priority"] == "high"
    prepared.fill(("video_url",), ARTIFACT)
    assert prepared.body["video_url"] == ARTIFACT


def test_urls_and_artifact_ids_pass_through() -> None:
    prepared = prepare(
        job_for("video_caption"), {"video": "https://example.com/v.mp4", "subtitles": ARTIFACT, "style": None}
    )
    assert prepared.uploads == []
    assert prepared.body == {"video_url": "https://example.com/v.mp4", "subtitles_url": ARTIFACT}


def test_slideshow_items_upload_each_local_image(tmp_path: Path) -> None:
    slide = tmp_path / "a.png"
    slide.write_bytes(b"png")
    prepared = prepare(job_for("video_img2vid"), {"images": [str(slide), {"image_url": ARTIFACT, "duration": 2}]})
    assert prepared.uploads == [(("images", 0, "image_url"), slide)]
    prepared.fill(("images", 0, "image_url"), "f" * 32)
    assert prepared.body["images"] == [{"image_url": "f" * 32}, {"image_url": ARTIFACT, "duration": 2}]


def test_a_missing_path_object_and_an_unknown_type_are_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        prepare(job_for("audio_transcription"), {"audio": tmp_path / "missing.wav"})
    with pytest.raises(ValueError, match="unknown task type"):
        job_for("video_teleport")
