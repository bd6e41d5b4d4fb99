"""run_ffmpeg (progress, errors, timeout, cancellation) and probe, on real media."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest
from helpers.media import (
    make_image,
    make_tone,
    make_video,
    process_exists,
    processes_matching,
    truncate_copy,
)
from mediatasks.core.errors import MediaTasksError
from mediatasks.media.ffmpeg import input_args, probe, run_ffmpeg


async def wait_for_process(marker: str, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pids := processes_matching(marker):
            return pids[0]
        await asyncio.sleep(0.02)
    raise AssertionError(f"no process with {marker!r} started within {timeout}s")


async def wait_gone(pid: int, timeout: float) -> float:
    """Seconds until ``pid`` no longer exists (neither running nor a zombie)."""
    started = time.monotonic()
    while process_exists(pid):
        if time.monotonic() - started > timeout:
            raise AssertionError(f"pid {pid} still exists {timeout}s later")
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def test_progress_is_reported_from_0_to_100_and_throttled(tmp_path: Path) -> None:
    reports: list[tuple[float, str]] = []
    started = time.monotonic()
    # -re paces the 1.5 s source in real time, -stats_period makes ffmpeg report
    # progress every 50 ms, far more often than the callback may be called.
    await run_ffmpeg(
        ["-re", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25:duration=1.5",
         "-stats_period", "0.05", "-f", "null", "-"],
        expected_duration=1.5,
        on_progress=lambda percent, stage: reports.append((percent, stage)),
        stage="encoding",
        timeout=30,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    percents = [percent for percent, _ in reports]
    assert {stage for _, stage in reports} == {"encoding"}
    assert percents[0] == 0.0 and percents[-1] == 100.0
    assert percents == sorted(percents)
    assert len([p for p in percents if 0 < p < 100]) >= 2, percents
    assert len(reports) <= elapsed * 4 + 3, (len(reports), elapsed)


async def test_async_progress_callbacks_are_awaited(tmp_path: Path) -> None:
    seen: list[float] = []

    async def on_progress(percent: float, stage: str) -> None:
        await asyncio.sleep(0)
        seen.append(percent)

    await run_ffmpeg(
        ["-f", "lavfi", "-i", "sine=duration=0.5", "-f", "null", "-"],
        expected_duration=0.5, on_progress=on_progress, stage="s", timeout=30,
    )  # fmt: skip
    assert seen[-1] == 100.0


async def test_invalid_input_fails_with_ffmpegs_reason(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"this is not a video at all" * 100)
    started = time.monotonic()
    with pytest.raises(MediaTasksError) as caught:
        await run_ffmpeg(["-i", str(garbage), "-f", "null", "-"], stage="decoding", timeout=30)
    assert time.monotonic() - started < 5
    assert caught.value.reason == "UNSUPPORTED_MEDIA"
    assert not caught.value.retryable
    assert "Invalid data found when processing input" in caught.value.message
    assert caught.value.metadata["stage"] == "decoding"


async def test_timeout_kills_ffmpeg_and_is_retryable(tmp_path: Path) -> None:
    marker = f"timeout-{uuid.uuid4().hex}"
    target = tmp_path / f"{marker}.mp4"
    task = asyncio.ensure_future(
        run_ffmpeg(
            [
                "-re",
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=64x48:rate=25:duration=30",
                "-c:v",
                "libx264",
                str(target),
            ],
            stage="encoding",
            timeout=1.0,
        )  # fmt: skip
    )
    pid = await wait_for_process(marker)
    with pytest.raises(MediaTasksError) as caught:
        await asyncio.wait_for(task, 10)
    assert caught.value.reason == "FFMPEG_TIMEOUT" and caught.value.retryable
    await wait_gone(pid, 2.0)


async def test_cancelling_the_task_kills_ffmpeg_within_2s(tmp_path: Path) -> None:
    marker = f"cancel-{uuid.uuid4().hex}"
    target = tmp_path / f"{marker}.mp4"
    # A 60 s source at a slow preset: minutes of work on two cores.
    task = asyncio.ensure_future(
        run_ffmpeg(
            [
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=640x480:rate=30:duration=60",
                "-c:v",
                "libx264",
                "-preset",
                "slow",
                str(target),
            ],
            expected_duration=60,
            stage="encoding",
            timeout=600,
        )  # fmt: skip
    )
    pid = await wait_for_process(marker)
    await asyncio.sleep(0.3)  # let it get into the encode
    assert process_exists(pid)
    cancelled_at = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    await wait_gone(pid, 2.0 - (time.monotonic() - cancelled_at))
    assert processes_matching(marker) == []


# ----------------------------------------------------------------------------- probe


def test_probe_reports_video_and_audio_facts(tmp_path: Path) -> None:
    video = make_video(tmp_path / "v.mp4", seconds=2, size=(320, 240), fps=25, with_audio=True)
    info = probe(video)
    assert info.has_video and info.has_audio
    assert (info.width, info.height, info.fps) == (320, 240, 25.0)
    assert info.video_codec == "h264" and info.audio_codec == "aac"
    assert info.sample_rate == 48000 and info.channels == 1
    assert info.duration_seconds == pytest.approx(2.0, abs=0.05)
    assert info.video_duration_seconds == pytest.approx(2.0, abs=0.04)
    assert "mp4" in info.format_name and info.size_bytes == video.stat().st_size
    assert info.rotation == 0 and info.display_aspect_ratio == pytest.approx(4 / 3)


def test_probe_audio_only_and_image(tmp_path: Path) -> None:
    tone = probe(make_tone(tmp_path / "t.wav", 1.0, sample_rate=16000))
    assert tone.has_audio and not tone.has_video and tone.width is None
    assert tone.sample_rate == 16000 and tone.duration_seconds == pytest.approx(1.0, abs=0.01)
    image = probe(make_image(tmp_path / "i.jpg", (64, 48)))
    assert image.has_video and (image.width, image.height) == (64, 48)


def test_probe_applies_rotation_metadata(tmp_path: Path) -> None:
    video = make_video(tmp_path / "plain.mp4", seconds=1, size=(320, 240), with_audio=False)
    rotated = tmp_path / "rotated.mp4"
    from helpers.media import ffmpeg

    ffmpeg("-display_rotation", "90", "-i", str(video), "-c", "copy", str(rotated))
    info = probe(rotated)
    assert (info.width, info.height) == (240, 320)
    assert info.rotation in (90, 270)


@pytest.mark.parametrize(
    "make_bad",
    [
        pytest.param(lambda d, good: _write(d / "random.mp4", bytes(range(256)) * 64), id="garbage"),
        pytest.param(lambda d, good: _write(d / "empty.mp4", b""), id="empty"),
        pytest.param(lambda d, good: _write(d / "text.srt", b"1\n00:00:01,000 --> x\n"), id="text"),
        pytest.param(lambda d, good: truncate_copy(good, d / "cut.mp4", 0.5), id="truncated-moov-at-end"),
        pytest.param(lambda d, good: truncate_copy(good, d / "cut.mp4", 0.01), id="truncated-header"),
    ],
)
def test_probe_rejects_corrupt_media_quickly(tmp_path: Path, make_bad) -> None:
    good = make_video(tmp_path / "good.mp4", seconds=2, with_audio=True)
    bad = make_bad(tmp_path, good)
    started = time.monotonic()
    with pytest.raises(MediaTasksError) as caught:
        probe(bad)
    assert time.monotonic() - started < 2
    assert caught.value.reason == "UNSUPPORTED_MEDIA", caught.value
    assert bad.name in caught.value.message


def test_probe_detects_truncated_faststart_mp4(tmp_path: Path) -> None:
    # With the index at the front, a cut-short file still opens: the index gives it away.
    good = make_video(tmp_path / "fs.mp4", seconds=3, with_audio=True, extra=["-movflags", "+faststart"])
    assert probe(good).duration_seconds == pytest.approx(3.0, abs=0.05)
    bad = truncate_copy(good, tmp_path / "fs_cut.mp4", 0.4)
    with pytest.raises(MediaTasksError) as caught:
        probe(bad)
    assert caught.value.reason == "UNSUPPORTED_MEDIA"
    assert "truncated" in caught.value.message


def test_probe_missing_file_is_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(MediaTasksError) as caught:
        probe(tmp_path / "nope.mp4")
    assert caught.value.reason == "INVALID_INPUT"


def test_probe_cost_does_not_grow_with_length(tmp_path: Path) -> None:
    short = make_video(tmp_path / "short.mp4", seconds=1, size=(160, 120), with_audio=True)
    long = make_video(tmp_path / "long.mp4", seconds=60, size=(160, 120), fps=10, with_audio=True)
    probe(short)  # warm up imports

    def best_of_three(path: Path) -> float:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            probe(path)
            times.append(time.perf_counter() - started)
        return min(times)

    assert probe(long).duration_seconds == pytest.approx(60, abs=0.2)
    # Decoding all 600 frames would take far longer than probing the 1 s file.
    assert best_of_three(long) < best_of_three(short) * 5 + 0.05


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# ------------------------------------------------------------ inputs: files and formats


@pytest.fixture
def segment(tmp_path: Path) -> Path:
    """A real MPEG-TS clip that playlists below refer to, beside them."""
    return make_video(tmp_path / "segment.ts", seconds=1, size=(64, 48), with_audio=False)


def hls_playlist(path: Path, segment: Path) -> Path:
    path.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n{segment.name}\n#EXT-X-ENDLIST\n")
    return path


def concat_list(path: Path, segment: Path) -> Path:
    path.write_text(f"ffconcat version 1.0\nfile '{segment.name}'\n")
    return path


PLAYLISTS = [
    pytest.param(hls_playlist, "HLS", id="hls"),
    pytest.param(concat_list, "concat", id="concat"),
]


@pytest.mark.parametrize(("write", "named"), PLAYLISTS)
def test_probe_refuses_playlists_before_opening_them(tmp_path: Path, segment: Path, write, named: str) -> None:
    playlist = write(tmp_path / "input_video", segment)
    with pytest.raises(MediaTasksError) as caught:
        probe(playlist)
    assert caught.value.reason == "UNSUPPORTED_MEDIA"
    assert named in caught.value.message and "input_video" in caught.value.message


@pytest.mark.parametrize(("write", "named"), PLAYLISTS)
async def test_ffmpeg_inputs_refuse_playlists_that_plain_ffmpeg_follows(
    tmp_path: Path, segment: Path, write, named: str
) -> None:
    # .m3u8: the name under which ffmpeg's HLS demuxer takes a playlist at all.
    playlist = write(tmp_path / f"list_{named}.m3u8", segment)
    # Without the whitelists ffmpeg reads the playlist and the file it names.
    await run_ffmpeg(["-i", str(playlist), "-f", "null", "-"], timeout=30)
    with pytest.raises(MediaTasksError) as caught:
        await run_ffmpeg([*input_args(playlist), "-f", "null", "-"], timeout=30)
    assert caught.value.reason == "UNSUPPORTED_MEDIA"
    assert "container format is not one mediatasks accepts" in caught.value.message


def test_probe_refuses_formats_off_the_whitelist_even_without_a_known_signature(tmp_path: Path) -> None:
    # A WebVTT file is valid input for ffmpeg, but not a container mediatasks reads media from.
    vtt = tmp_path / "input_video"
    vtt.write_text("WEBVTT\n\n00:00.000 --> 00:01.000\nhello\n")
    with pytest.raises(MediaTasksError) as caught:
        probe(vtt)
    assert caught.value.reason == "UNSUPPORTED_MEDIA"
    assert "container format mediatasks accepts" in caught.value.message


@pytest.mark.parametrize(("write", "named"), PLAYLISTS)
async def test_playlists_given_as_video_or_audio_inputs_fail_the_operation(
    tmp_path: Path, segment: Path, write, named: str
) -> None:
    from mediatasks.video.operations import add_audio, burn_captions

    playlist = write(tmp_path / "input_video", segment)
    captions = tmp_path / "captions.srt"
    captions.write_text("1\n00:00:00,000 --> 00:00:01,000\nhello\n")
    with pytest.raises(MediaTasksError) as caught:
        await burn_captions(playlist, captions, tmp_path / "out.mp4", timeout=30)
    assert caught.value.reason == "UNSUPPORTED_MEDIA" and named in caught.value.message

    video = make_video(tmp_path / "v.mp4", seconds=1, size=(64, 48), with_audio=False)
    with pytest.raises(MediaTasksError) as caught:
        await add_audio(video, playlist, tmp_path / "out.mp4", timeout=30)
    assert caught.value.reason == "UNSUPPORTED_MEDIA" and named in caught.value.message
    assert not (tmp_path / "out.mp4").exists()


def test_input_args_open_local_files_only(tmp_path: Path) -> None:
    args = input_args("http://169.254.169.254/latest")
    assert args[:2] == ["-protocol_whitelist", "file"]
    assert args[2] == "-format_whitelist" and "hls" not in args[3].split(",")
    assert args[4] == "-i" and args[5].startswith("/")  # a path, never a URL or an option


def _webm(path: Path) -> Path:
    return make_video(path, 1, (64, 48), video_codec=("libvpx-vp9", "-deadline", "realtime"), audio_codec=("libopus",))


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda p: make_video(p.with_suffix(".mp4"), 1, (64, 48)), id="mp4"),
        pytest.param(lambda p: make_video(p.with_suffix(".mkv"), 1, (64, 48)), id="mkv"),
        pytest.param(lambda p: make_video(p.with_suffix(".mov"), 1, (64, 48)), id="mov"),
        pytest.param(lambda p: make_video(p.with_suffix(".avi"), 1, (64, 48)), id="avi"),
        pytest.param(lambda p: make_video(p.with_suffix(".ts"), 1, (64, 48)), id="ts"),
        pytest.param(lambda p: _webm(p.with_suffix(".webm")), id="webm"),
        pytest.param(lambda p: make_tone(p.with_suffix(".wav"), 1), id="wav"),
        pytest.param(lambda p: make_tone(p.with_suffix(".mp3"), 1), id="mp3"),
        pytest.param(lambda p: make_tone(p.with_suffix(".m4a"), 1), id="m4a"),
        pytest.param(lambda p: make_tone(p.with_suffix(".ogg"), 1), id="ogg"),
        pytest.param(lambda p: make_tone(p.with_suffix(".flac"), 1), id="flac"),
        pytest.param(lambda p: make_image(p.with_suffix(".png")), id="png"),
        pytest.param(lambda p: make_image(p.with_suffix(".jpg")), id="jpg"),
        pytest.param(lambda p: make_image(p.with_suffix(".gif")), id="gif"),
        pytest.param(lambda p: make_image(p.with_suffix(".webp")), id="webp"),
        pytest.param(lambda p: make_image(p.with_suffix(".bmp")), id="bmp"),
        pytest.param(lambda p: make_image(p.with_suffix(".tiff")), id="tiff"),
    ],
)
async def test_common_media_passes_the_whitelists_without_a_file_extension(tmp_path: Path, make) -> None:
    # Inputs are stored under names without an extension: the format comes from content.
    made = make(tmp_path / "made")
    path = made.rename(tmp_path / "input")
    info = probe(path)
    assert info.has_video or info.has_audio
    await run_ffmpeg([*input_args(path), "-frames:v", "1", "-t", "0.5", "-f", "null", "-"], timeout=30)
