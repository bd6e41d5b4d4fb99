"""Issue 3 end to end: every offline media job through the real Envoy, on real media.

Each job goes REST → 202 → poll → download, and the downloaded file itself is checked
(pixels, durations, streams, parsed subtitles, word error rate). Then the failures:
corrupt inputs fail with a clear reason and never hang, unsafe URLs and bad options are
refused at submit without creating a task, and oversized uploads answer 413.
"""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import av
import httpx
import pysubs2
import pytest
from helpers.media import (
    audio_samples,
    changed_pixels,
    count_video_frames,
    frame_at,
    image_bytes,
    make_solid_video,
    make_srt,
    make_tone,
    make_video,
    rms,
    truncate_copy,
)
from helpers.stacks import error_reason, isolated_stack, upload, wait_for
from PIL import Image

pytestmark = pytest.mark.e2e

SPEECH = Path(__file__).resolve().parent.parent / "fixtures" / "speech"
SPEECH_FIXTURES = sorted(path.stem for path in SPEECH.glob("*.wav"))
JOB_TIMEOUT = 60.0
MP4 = "video/mp4"

# A flat-colour video makes caption pixels easy to tell from compression noise.
CAPTION_CUES = [(0.5, 1.5, "Hello captions"), (2.0, 2.6, "Second cue")]
INSIDE_CUES = (1.0, 2.3)
OUTSIDE_CUES = (0.2, 1.8, 2.9)
TOP_BAND = (0, 0, 320, 90)
BOTTOM_BAND = (0, 150, 320, 240)
ONE_CUE = "1\n00:00:00,500 --> 00:00:01,500\nOne cue\n"


# --- helpers -------------------------------------------------------------------------------


def submit(rest: httpx.Client, path: str, body: dict) -> dict:
    response = rest.post(f"/api/v1/media/{path}", json=body)
    assert response.status_code == 202, response.text
    task = response.json()
    assert task["status"] in ("QUEUED", "PROCESSING", "COMPLETED")
    return task


def run_job(rest: httpx.Client, path: str, body: dict) -> dict:
    """Submit, wait for the end, and insist it completed; returns the finished task."""
    task = wait_for(rest, submit(rest, path, body)["task_id"], timeout=JOB_TIMEOUT)
    assert task["status"] == "COMPLETED", task.get("error")
    assert task["progress"] == 100
    return task


def run_failing_job(rest: httpx.Client, path: str, body: dict) -> dict:
    task = wait_for(rest, submit(rest, path, body)["task_id"], timeout=JOB_TIMEOUT)
    assert task["status"] == "FAILED", task
    assert not task.get("output", {}).get("artifacts")
    return task


def result_of(task: dict) -> dict:
    return task["output"]["result"]


def download(rest: httpx.Client, artifact: dict, dest: Path | None = None) -> bytes:
    """GET an artifact; its content type must be the one the task announced."""
    response = rest.get(artifact["url"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].split(";")[0] == artifact["content_type"].split(";")[0]
    assert len(response.content) == int(artifact["size_bytes"])
    if dest is not None:
        dest.write_bytes(response.content)
    return response.content


def upload_file(rest: httpx.Client, path: Path, content_type: str) -> str:
    return upload(rest, path.read_bytes(), content_type, path.name)


def stream_seconds(path: Path, kind: str) -> float:
    with av.open(str(path)) as container:
        stream = next(s for s in container.streams if s.type == kind)
        return float(stream.duration * stream.time_base)


def stream_kinds(path: Path) -> list[str]:
    with av.open(str(path)) as container:
        return sorted(stream.type for stream in container.streams)


def near(pixel: tuple[int, ...], colour: tuple[int, int, int], tolerance: int = 25) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], colour, strict=True))


def words_of(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word-level edit distance over the reference length."""
    ref, hyp = words_of(reference), words_of(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, start=1):
        previous, row[0] = row[0], i
        for j, hyp_word in enumerate(hyp, start=1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (ref_word != hyp_word))
    return row[len(hyp)] / max(len(ref), 1)


def reference_text(name: str) -> str:
    return (SPEECH / f"{name}.txt").read_text().strip()


def wav_seconds(name: str) -> float:
    with av.open(str(SPEECH / f"{name}.wav")) as container:
        stream = container.streams.audio[0]
        return float(stream.duration * stream.time_base)


def assert_cues_well_formed(cues: list[tuple[float, float, str]], clip_seconds: float) -> None:
    """Cues in order, each 0 <= start < end <= clip length, none overlapping the next."""
    assert cues, "no cues"
    for start, end, text in cues:
        assert text.strip()
        assert 0.0 <= start < end <= clip_seconds + 0.011, (start, end, clip_seconds)
    for (_, end, _), (next_start, _, _) in zip(cues, cues[1:], strict=False):
        assert end <= next_start + 1e-6, cues


def parsed_cues(document: str) -> list[tuple[float, float, str]]:
    subs = pysubs2.SSAFile.from_string(document)
    return [(e.start / 1000, e.end / 1000, e.plaintext) for e in subs.events if not e.is_comment]


def task_total(rest: httpx.Client, task_type: str) -> int:
    response = rest.get("/api/v1/media/tasks", params={"task_type": task_type, "limit": 1})
    assert response.status_code == 200, response.text
    return int(response.json()["total"])


@pytest.fixture(scope="module")
def solid_video(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("media") / "solid.mp4"
    return make_solid_video(path, seconds=3, size=(320, 240), color="0x336699", with_audio=True)


@pytest.fixture(scope="module")
def solid_video_id(rest, solid_video) -> str:
    return upload_file(rest, solid_video, MP4)


@pytest.fixture(scope="module")
def speech_id(rest) -> str:
    return upload_file(rest, SPEECH / "call_me_back.wav", "audio/wav")


# --- caption burn-in -----------------------------------------------------------------------


def assert_captions_only_inside_cues(source: Path, captioned: Path, band, other_band) -> None:
    for at in INSIDE_CUES:
        before, after = frame_at(source, at), frame_at(captioned, at)
        assert changed_pixels(before, after, band) > 100, f"no caption drawn at {at}s"
        assert changed_pixels(before, after, other_band) == 0, f"caption outside its band at {at}s"
    for at in OUTSIDE_CUES:
        assert changed_pixels(frame_at(source, at), frame_at(captioned, at), (0, 0, 320, 240)) == 0, (
            f"pixels changed at {at}s, outside every cue"
        )


def test_caption_burn_in_from_srt_upload(rest, solid_video, solid_video_id, tmp_path):
    srt = upload_file(rest, make_srt(tmp_path / "captions.srt", CAPTION_CUES), "application/x-subrip")
    task = run_job(
        rest, "videos/caption", {"video_url": solid_video_id, "subtitles_url": srt, "output_filename": "out.mp4"}
    )
    result = result_of(task)
    assert (result["width"], result["height"]) == (320, 240)
    assert result["duration_seconds"] == pytest.approx(3.0, abs=0.05)
    assert result["video"]["filename"] == "out.mp4" and result["video"]["content_type"] == MP4
    out = tmp_path / "captioned.mp4"
    download(rest, result["video"], out)
    assert count_video_frames(out) == count_video_frames(solid_video)  # decodes to the end
    assert stream_kinds(out) == ["audio", "video"]  # the source's audio is kept
    assert_captions_only_inside_cues(solid_video, out, BOTTOM_BAND, TOP_BAND)


def test_caption_burn_in_from_inline_vtt_with_style(rest, solid_video, solid_video_id, tmp_path):
    vtt = "WEBVTT\n\n" + "\n".join(
        f"00:00:{start:06.3f} --> 00:00:{end:06.3f}\n{text}\n" for start, end, text in CAPTION_CUES
    )
    style = {"position": "top", "font_size": 28, "primary_color": "#FFFF00", "outline": 1}
    task = run_job(rest, "videos/caption", {"url_video": solid_video_id, "subtitles": vtt, "style": style})
    out = tmp_path / "captioned.mp4"
    download(rest, result_of(task)["video"], out)
    assert count_video_frames(out) == count_video_frames(solid_video)
    assert_captions_only_inside_cues(solid_video, out, TOP_BAND, BOTTOM_BAND)
    band = frame_at(out, INSIDE_CUES[0]).convert("RGB").crop(TOP_BAND)
    assert any(near(pixel, (255, 255, 0), 40) for pixel in band.get_flattened_data()), "no yellow caption text"


def test_caption_from_ass_keeps_its_authored_style(rest, solid_video, solid_video_id, tmp_path):
    """An ASS file without a request style renders with its own styles (top, here)."""
    subs = pysubs2.SSAFile()
    subs.info.update({"PlayResX": "320", "PlayResY": "240"})
    subs.styles["Default"] = pysubs2.SSAStyle(
        fontname="DejaVu Sans", fontsize=30, alignment=pysubs2.Alignment.TOP_CENTER, marginv=10
    )
    for start, end, text in CAPTION_CUES:
        subs.append(pysubs2.SSAEvent(start=round(start * 1000), end=round(end * 1000), text=text))
    ass = upload(rest, subs.to_string("ass").encode(), "text/x-ssa", "captions.ass")
    task = run_job(rest, "videos/caption", {"video_url": solid_video_id, "subtitles_url": ass})
    out = tmp_path / "captioned.mp4"
    download(rest, result_of(task)["video"], out)
    assert_captions_only_inside_cues(solid_video, out, TOP_BAND, BOTTOM_BAND)


# --- images to video -----------------------------------------------------------------------


def test_img2vid_mixed_aspect_ratios_letterboxed(rest, tmp_path):
    red, blue, letterbox = (220, 30, 30), (30, 30, 220), (32, 192, 64)
    four_three = upload(rest, image_bytes((320, 240), red), "image/png", "4x3.png")
    nine_sixteen = upload(rest, image_bytes((180, 320), blue, format="JPEG"), "image/jpeg", "9x16.jpg")
    body = {
        "images": [
            {"id": "a", "image_url": four_three, "duration": 1.0},
            {"id": "b", "image_url": nine_sixteen, "duracao": 1.5},
        ],
        "width": 640,
        "height": 360,
        "fps": 25,
        "background": "#20C040",
    }
    task = run_job(rest, "videos/img2vid", body)
    result = result_of(task)
    one_frame = 1 / 25
    assert (result["width"], result["height"]) == (640, 360)
    assert abs(result["duration_seconds"] - 2.5) <= one_frame + 1e-6
    out = tmp_path / "slideshow.mp4"
    download(rest, result["video"], out)
    assert abs(count_video_frames(out) / 25 - 2.5) <= one_frame + 1e-6
    assert abs(stream_seconds(out, "video") - 2.5) <= one_frame + 1e-6

    first = frame_at(out, 0.5).convert("RGB")  # 4:3 → 480x360, pillarboxed 80 px each side
    assert first.size == (640, 360)
    assert near(first.getpixel((320, 180)), red)
    assert near(first.getpixel((20, 180)), letterbox) and near(first.getpixel((620, 180)), letterbox)
    second = frame_at(out, 1.8).convert("RGB")  # 9:16 → 202x360, pillarboxed 219 px each side
    assert near(second.getpixel((320, 180)), blue)
    assert near(second.getpixel((100, 180)), letterbox) and near(second.getpixel((540, 180)), letterbox)


def test_img2vid_duration_from_gif_input(rest, tmp_path):
    gif = upload(rest, image_bytes((64, 48), "red", format="GIF", mode="P"), "image/gif", "slide.gif")
    task = run_job(
        rest, "videos/img2vid", {"images": [{"image_url": gif, "duration": 1.0}], "width": 320, "height": 240}
    )
    out = tmp_path / "slideshow.mp4"
    download(rest, result_of(task)["video"], out)
    assert count_video_frames(out) == 25


# --- add audio -----------------------------------------------------------------------------


def test_add_audio_pads_a_short_track_to_the_video_length(rest, tmp_path):
    video = make_video(tmp_path / "silent.mp4", seconds=3, size=(320, 240), with_audio=False)
    tone = make_tone(tmp_path / "tone.m4a", seconds=1.5, frequency=660)
    task = run_job(
        rest,
        "videos/add-audio",
        {"url_video": upload_file(rest, video, MP4), "url_audio": upload_file(rest, tone, "audio/mp4"), "mode": "pad"},
    )
    result = result_of(task)
    assert result["duration_seconds"] == pytest.approx(3.0, abs=0.05)
    out = tmp_path / "with_audio.mp4"
    download(rest, result["video"], out)
    assert stream_kinds(out) == ["audio", "video"]
    assert stream_seconds(out, "video") == pytest.approx(3.0, abs=0.05)
    assert stream_seconds(out, "audio") == pytest.approx(3.0, abs=0.05)
    assert count_video_frames(out) == count_video_frames(video)
    samples = audio_samples(out, rate=8000)
    assert rms(samples[: int(1.4 * 8000)]) > 1000, "the tone is missing"
    assert rms(samples[int(1.7 * 8000) : int(2.9 * 8000)]) < 50, "the pad is not silence"


# --- transcription -------------------------------------------------------------------------


@pytest.mark.parametrize("name", SPEECH_FIXTURES)
def test_transcribe_speech_fixture_json(rest, name):
    audio = upload_file(rest, SPEECH / f"{name}.wav", "audio/wav")
    task = run_job(rest, "audio/transcribe", {"audio_url": audio, "response_format": "json"})
    assert task["provider"] and task["cost_usd"] == 0  # offline: Whisper
    result = result_of(task)
    duration = wav_seconds(name)
    assert result["duration_seconds"] == pytest.approx(duration, abs=0.05)
    document = json.loads(download(rest, result["transcript"]))
    assert result["transcript"]["content_type"] == "application/json"
    assert word_error_rate(reference_text(name), document["text"]) <= 0.2, document["text"]
    assert document["text"] == result["text"]
    words = document["words"]
    assert words_of(" ".join(w["text"] for w in words)) == words_of(document["text"])
    previous_end = 0.0
    for word in words:
        assert previous_end - 1e-6 <= word["start"] <= word["end"] <= duration + 0.01, words
        assert 0.0 <= word["confidence"] <= 1.0
        previous_end = word["end"]


def test_transcribe_speech_fixture_srt(rest, speech_id):
    task = run_job(rest, "audio/transcribe", {"url_audio": speech_id, "response_format": "srt"})
    result = result_of(task)
    assert result["format"] == "srt"
    document = download(rest, result["transcript"]).decode()
    assert result["transcript"]["content_type"] == "application/x-subrip"
    assert document == result["content"]
    cues = parsed_cues(document)
    assert_cues_well_formed(cues, wav_seconds("call_me_back"))
    spoken = " ".join(text for _, _, text in cues)
    assert word_error_rate(reference_text("call_me_back"), spoken) <= 0.2, spoken


# --- subtitles from speech and alignment ---------------------------------------------------


def test_subtitles_from_speech_never_overlap(rest, speech_id):
    # Short lines force several cues out of one sentence.
    body = {"media_url": speech_id, "max_chars_per_line": 20, "max_lines": 1, "min_cue_duration": 0.3}
    task = run_job(rest, "subtitles/generate", body)
    result = result_of(task)
    document = download(rest, result["subtitles"]).decode()
    cues = parsed_cues(document)
    assert len(cues) >= 2 and result["cue_count"] == len(cues)
    assert_cues_well_formed(cues, wav_seconds("call_me_back"))
    assert all(len(text) <= 20 for _, _, text in cues)
    spoken = " ".join(text for _, _, text in cues)
    assert word_error_rate(reference_text("call_me_back"), spoken) <= 0.2, spoken


def test_subtitles_from_fast_speech_stay_inside_the_clip(rest, speech_id):
    task = run_job(rest, "subtitles/generate", {"media_url": speech_id, "max_chars_per_line": 12, "max_lines": 1})
    cues = parsed_cues(download(rest, result_of(task)["subtitles"]).decode())
    assert_cues_well_formed(cues, wav_seconds("call_me_back"))


def test_alignment_of_an_srt_to_its_speech(rest, speech_id, tmp_path):
    # The given times are wrong on purpose: alignment must move them onto the speech.
    given = [(1.0, 2.0, "Please call me back"), (2.0, 3.0, "when you get home tonight.")]
    srt = upload_file(rest, make_srt(tmp_path / "given.srt", given), "application/x-subrip")
    task = run_job(rest, "subtitles/generate", {"media_url": speech_id, "url_srt": srt, "format": "vtt"})
    result = result_of(task)
    clip = wav_seconds("call_me_back")
    cues = parsed_cues(download(rest, result["subtitles"]).decode())
    assert [text for _, _, text in cues] == [text for _, _, text in given]
    assert_cues_well_formed(cues, clip)
    assert cues[0][0] < 0.5, "the first cue was not moved onto the speech"
    assert 0.8 <= cues[0][1] <= 1.4 and 0.8 <= cues[1][0] <= 1.4, cues  # "back" ends near 1.1 s
    paragraphs = result["paragraphs"]
    assert paragraphs and " ".join(p["text"] for p in paragraphs) == " ".join(t for _, _, t in given)
    for paragraph in paragraphs:
        assert 0.0 <= paragraph["start"] < paragraph["end"] <= clip + 0.011
        for cue in paragraph["cues"]:
            assert paragraph["start"] <= cue["start"] < cue["end"] <= paragraph["end"]


def test_alignment_of_cp1252_srt_keeps_its_accents(rest, speech_id):
    text = "Please call me back when you get home tonight, José."
    srt = upload(rest, f"1\n00:00:00,000 --> 00:00:02,000\n{text}\n".encode("cp1252"), "application/x-subrip", "a.srt")
    task = run_job(rest, "subtitles/generate", {"media_url": speech_id, "subtitles_url": srt})
    assert [cue_text for _, _, cue_text in parsed_cues(result_of(task)["content"])] == [text]


def test_alignment_of_unrelated_text_stays_inside_the_clip(rest, speech_id):
    text = "Giraffes eat leaves from tall acacia trees in the savanna."
    task = run_job(rest, "subtitles/generate", {"media_url": speech_id, "text": text})
    assert_cues_well_formed(parsed_cues(result_of(task)["content"]), wav_seconds("call_me_back"))


# --- analysis ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "ratio", "orientation"),
    [((180, 320), "9:16", "portrait"), ((320, 180), "16:9", "landscape")],
)
def test_analyze_aspect_ratio_frames_and_loudness(rest, tmp_path, size, ratio, orientation):
    video = make_video(tmp_path / "clip.mp4", seconds=2, size=size)
    task = run_job(
        rest,
        "videos/analyze",
        {"video_url": upload_file(rest, video, MP4), "target_aspect_ratios": ["9:16", "16:9"], "frame_count": 3},
    )
    result = result_of(task)
    report = result["report"]["fields"]
    aspect = report["aspect_ratio"]
    assert aspect["ratio"] == ratio and aspect["orientation"] == orientation
    assert aspect["targets"]["9:16"]["matches"] is (ratio == "9:16")
    assert aspect["targets"]["16:9"]["matches"] is (ratio == "16:9")
    assert report["resolution"] == {"width": size[0], "height": size[1]}
    assert report["duration_seconds"] == pytest.approx(2.0, abs=0.05)
    loudness = report["loudness"]
    assert isinstance(loudness["integrated_lufs"], float) and -40 < loudness["integrated_lufs"] < 0
    assert isinstance(loudness["true_peak_dbtp"], float) and loudness["silent"] is False

    frames = result["frames"]
    assert len(frames) == 3
    times = [entry["time_seconds"] for entry in report["frames"]]
    assert times == sorted(times) and all(0 <= t < 2.0 for t in times)
    assert [entry["artifact_id"] for entry in report["frames"]] == [f["artifact_id"] for f in frames]
    for frame in frames:
        assert frame["content_type"] == "image/jpeg"
        image = Image.open(io.BytesIO(download(rest, frame)))
        assert image.format == "JPEG" and image.size == size


# --- image transform -----------------------------------------------------------------------


def test_image_transform_resize_and_convert_to_webp(rest):
    source = upload(rest, image_bytes((400, 300), (200, 40, 40)), "image/png", "photo.png")
    body = {"image_url": source, "operations": [{"op": "resize", "width": 200}], "output_format": "webp", "quality": 90}
    task = run_job(rest, "images/transform", body)
    result = result_of(task)
    assert (result["width"], result["height"], result["format"]) == (200, 150, "webp")
    assert result["image"]["content_type"] == "image/webp"
    image = Image.open(io.BytesIO(download(rest, result["image"])))
    assert image.format == "WEBP" and image.size == (200, 150)
    assert near(image.convert("RGB").getpixel((100, 75)), (200, 40, 40), 20)


# --- failures ------------------------------------------------------------------------------


@pytest.mark.parametrize("faststart", [False, True], ids=["index-at-end", "faststart"])
def test_truncated_mp4_fails_with_unsupported_media(rest, tmp_path, faststart):
    extra = ("-movflags", "+faststart") if faststart else ()
    whole = make_video(tmp_path / "whole.mp4", seconds=3, size=(320, 240), extra=extra)
    cut = upload_file(rest, truncate_copy(whole, tmp_path / "cut.mp4", 0.5), MP4)
    task = run_failing_job(rest, "videos/caption", {"video_url": cut, "subtitles": ONE_CUE})
    error = task["error"]
    assert error["reason"] == "UNSUPPORTED_MEDIA" and error["retryable"] is False
    assert "input_video" in error["message"]
    assert task["attempt"] == 1  # a permanent failure is not retried


def test_truncated_mp4_transcription_fails_with_unsupported_media(rest, tmp_path):
    whole = make_video(tmp_path / "whole.mp4", seconds=3, size=(320, 240), extra=("-movflags", "+faststart"))
    cut = upload_file(rest, truncate_copy(whole, tmp_path / "cut.mp4", 0.5), MP4)
    task = run_failing_job(rest, "audio/transcribe", {"audio_url": cut})
    assert task["error"]["reason"] == "UNSUPPORTED_MEDIA"


@pytest.mark.parametrize(
    ("path", "field", "extra"),
    [
        ("images/transform", "image_url", {"operations": [{"op": "resize", "width": 10}]}),
        ("videos/img2vid", None, {}),
    ],
)
def test_text_uploaded_as_an_image_fails(rest, path, field, extra):
    fake = upload(rest, b"Dear diary, this is not a picture.\n", "image/png", "diary.png")
    body = {field: fake, **extra} if field else {"images": [{"image_url": fake, "duration": 1}], **extra}
    task = run_failing_job(rest, path, body)
    assert task["error"]["reason"] == "UNSUPPORTED_MEDIA" and task["error"]["retryable"] is False


UNSAFE_URLS = ["https://127.0.0.1/x.mp4", "https://169.254.169.254/latest", "https://localhost/x", "https://[::1]/x"]


def unsafe_submissions(url: str, artifact: str) -> list[tuple[str, str, dict]]:
    """(path, task type, body) for every input field of every offline job, holding ``url``."""
    return [
        ("videos/caption", "video_caption", {"video_url": url, "subtitles": ONE_CUE}),
        ("videos/caption", "video_caption", {"video_url": artifact, "subtitles_url": url}),
        ("videos/img2vid", "video_img2vid", {"images": [{"image_url": url, "duration": 1}]}),
        ("videos/add-audio", "video_add_audio", {"video_url": artifact, "audio_url": url}),
        ("videos/analyze", "video_analysis", {"video_url": url}),
        ("audio/transcribe", "audio_transcription", {"audio_url": url}),
        ("subtitles/generate", "subtitle_generation", {"media_url": url}),
        ("images/transform", "image_transform", {"image_url": url}),
    ]


@pytest.mark.parametrize("url", UNSAFE_URLS)
def test_unsafe_urls_are_refused_at_submit(rest, solid_video_id, url):
    submissions = unsafe_submissions(url, solid_video_id)
    before = {task_type: task_total(rest, task_type) for _, task_type, _ in submissions}
    for path, _, body in submissions:
        response = rest.post(f"/api/v1/media/{path}", json=body)
        assert response.status_code == 400, (path, response.text)
        assert error_reason(response) in ("URL_NOT_ALLOWED", "INVALID_INPUT"), response.text
    assert {task_type: task_total(rest, task_type) for _, task_type, _ in submissions} == before


def test_unknown_artifact_is_404_at_submit(rest, solid_video_id):
    missing = os.urandom(16).hex()
    for path, task_type, body in unsafe_submissions(missing, solid_video_id):
        before = task_total(rest, task_type)
        response = rest.post(f"/api/v1/media/{path}", json=body)
        assert response.status_code == 404, (path, response.text)
        assert error_reason(response) == "ARTIFACT_NOT_FOUND"
        assert task_total(rest, task_type) == before


def bad_option_submissions(video: str, speech: str, image: str) -> list[tuple[str, dict]]:
    return [
        ("videos/add-audio", {"video_url": video, "audio_url": speech, "mode": "sideways"}),
        ("videos/add-audio", {"video_url": video, "audio_url": speech, "volume": 50}),
        ("subtitles/generate", {"text": "Hello there.", "format": "docx"}),
        ("subtitles/generate", {"text": "Hello there.", "max_lines": 9}),
        ("subtitles/generate", {"media_url": speech, "text": "Olá.", "source_language": "pt"}),
        ("audio/transcribe", {"audio_url": speech, "response_format": "docx"}),
        ("images/transform", {"image_url": image, "output_format": "bmp"}),
        ("images/transform", {"image_url": image, "operations": [{"op": "flip"}]}),
        (
            "images/transform",
            {"image_url": image, "operations": [{"op": "pad", "width": 9, "height": 9, "background": "nope"}]},
        ),
        ("images/transform", {"image_url": image, "operations": [{"op": "resize", "width": 100000}]}),
        ("videos/img2vid", {"images": [{"image_url": image, "duration": 1}], "background": "chartreuse"}),
        ("videos/img2vid", {"images": [{"image_url": image, "duration": 0.01}]}),
        ("videos/img2vid", {"images": [{"image_url": image, "duration": 1}], "width": 321}),
        ("videos/caption", {"video_url": video, "subtitles": "   "}),
        ("videos/caption", {"video_url": video, "subtitles": "no cues in here"}),
        ("videos/caption", {"video_url": video, "subtitles": "WEBVTT\n\n"}),
        (
            "videos/caption",
            {
                "video_url": video,
                "subtitles": ONE_CUE,
                "style": {"position": "sideways"},
            },
        ),
        (
            "videos/caption",
            {
                "video_url": video,
                "subtitles": ONE_CUE,
                "style": {"primary_color": "red"},
            },
        ),
        ("videos/analyze", {"video_url": video, "target_aspect_ratios": ["banana"]}),
        ("videos/analyze", {"video_url": video, "frame_count": 50}),
    ]


def test_bad_option_values_are_400_and_create_nothing(rest, solid_video_id, speech_id):
    image = upload(rest, image_bytes((64, 48), "red"), "image/png", "small.png")
    totals = {
        t: task_total(rest, t)
        for t in (
            "video_caption",
            "video_img2vid",
            "video_add_audio",
            "video_analysis",
            "audio_transcription",
            "subtitle_generation",
            "image_transform",
        )
    }
    for path, body in bad_option_submissions(solid_video_id, speech_id, image):
        response = rest.post(f"/api/v1/media/{path}", json=body)
        assert response.status_code == 400, (path, body, response.text)
        assert response.json()["code"] == 3
        assert error_reason(response) == "INVALID_INPUT", response.text
    assert {t: task_total(rest, t) for t in totals} == totals


# --- upload limits -------------------------------------------------------------------------


def test_upload_over_the_configured_limit_is_413(postgres_server):
    """MEDIATASKS_MAX_UPLOAD_BYTES, on a stack of its own (registry and gateway only)."""
    limit = 100_000
    with isolated_stack(
        postgres_server,
        "limits",
        media_services=(),
        env={"MEDIATASKS_MAX_UPLOAD_BYTES": str(limit), "MEDIATASKS_LOG_JSON": "false"},
    ) as small:
        with httpx.Client(base_url=small.http_url, headers={"X-API-Key": small.api_key}, timeout=30.0) as client:
            headers = {"content-type": "application/octet-stream", "x-filename": "blob.bin"}
            fits = client.post("/api/v1/media/uploads", content=b"a" * limit, headers=headers)
            assert fits.status_code == 200, fits.text
            assert int(fits.json()["size_bytes"]) == limit
            over = client.post("/api/v1/media/uploads", content=b"a" * (limit + 1), headers=headers)
            assert over.status_code == 413, over.text
            assert error_reason(over) == "INPUT_TOO_LARGE"
            assert over.json()["details"][0]["metadata"]["limit_bytes"] == str(limit)

            # Streamed without a Content-Length: refused once the byte past the limit arrives.
            def chunks():
                for _ in range(40):
                    yield b"b" * 10_000

            streamed = client.post("/api/v1/media/uploads", content=chunks(), headers=headers)
            assert streamed.status_code == 413, streamed.text
            assert error_reason(streamed) == "INPUT_TOO_LARGE"
            tus = client.post(
                "/api/v1/media/uploads/tus", headers={"Tus-Resumable": "1.0.0", "Upload-Length": str(limit + 1)}
            )
            assert tus.status_code == 413
            assert client.options("/api/v1/media/uploads/tus").headers["tus-max-size"] == str(limit)
