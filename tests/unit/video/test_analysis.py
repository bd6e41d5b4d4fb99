"""analyze_video and its pieces on tiny real media."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
import wave
from pathlib import Path

import pysubs2
import pytest
from helpers.media import (
    ffmpeg,
    make_silence,
    make_solid_video,
    make_srt,
    make_video,
    processes_matching,
)
from mediatasks.core.errors import MediaTasksError
from mediatasks.video.analysis import (
    analyze_video,
    check_subtitle_safe_zone,
    describe_aspect_ratio,
    extract_frames,
)
from mediatasks.video.operations import CaptionStyle
from PIL import Image


def as_json(result: dict) -> dict:
    """The result must survive strict JSON (no NaN/inf, only plain types)."""
    return json.loads(json.dumps(result, allow_nan=False))


async def test_landscape_video_facts_frames_and_loudness(tmp_path: Path) -> None:
    video = make_video(tmp_path / "wide.mp4", seconds=3, size=(320, 180), with_audio=True)
    result = as_json(
        await analyze_video(video, tmp_path / "work", target_aspect_ratios=("9:16", "16:9"), frame_count=4)  # fmt: skip
    )
    assert result["duration_seconds"] == pytest.approx(3.0, abs=0.05)
    assert result["resolution"] == {"width": 320, "height": 180}
    assert result["fps"] == 25.0 and result["video_codec"] == "h264"
    assert result["audio_codec"] == "aac"
    aspect = result["aspect_ratio"]
    assert aspect["ratio"] == "16:9" and aspect["value"] == pytest.approx(16 / 9, abs=1e-4)
    assert aspect["targets"]["16:9"]["matches"] is True
    assert aspect["targets"]["9:16"]["matches"] is False

    frames = result["frames"]
    assert [f["time_seconds"] for f in frames] == pytest.approx([0.375, 1.125, 1.875, 2.625])
    for frame in frames:
        with Image.open(frame["path"]) as image:
            assert image.format == "JPEG" and image.size == (320, 180)
        assert Path(frame["path"]).parent == tmp_path / "work"

    loudness = result["loudness"]
    # lavfi's sine is a -18 dBFS peak tone: about -21 LUFS integrated.
    assert isinstance(loudness["integrated_lufs"], float)
    assert -30 < loudness["integrated_lufs"] < -12
    assert -20 < loudness["true_peak_dbtp"] < -15
    assert loudness["silent"] is False
    assert result["transcript"] is None and result["subtitle_safe_zone"] is None


async def test_louder_tone_measures_louder(tmp_path: Path) -> None:
    quiet = make_video(tmp_path / "q.mp4", seconds=2, size=(64, 48), with_audio=True)
    loud = tmp_path / "l.mp4"
    ffmpeg("-i", str(quiet), "-c:v", "copy", "-af", "volume=12dB", "-c:a", "aac", str(loud))
    quiet_lufs = (await analyze_video(quiet, tmp_path / "q"))["loudness"]["integrated_lufs"]
    loud_lufs = (await analyze_video(loud, tmp_path / "l"))["loudness"]["integrated_lufs"]
    assert loud_lufs - quiet_lufs == pytest.approx(12, abs=1.0)


async def test_silence_is_reported_without_infinities(tmp_path: Path) -> None:
    video = make_solid_video(tmp_path / "v.mp4", seconds=2, size=(64, 48))
    silence = make_silence(tmp_path / "s.wav", 2)
    muxed = tmp_path / "silent.mp4"
    ffmpeg("-i", str(video), "-i", str(silence), "-c:v", "copy", "-c:a", "aac", "-shortest", str(muxed))
    loudness = as_json(await analyze_video(muxed, tmp_path / "w"))["loudness"]
    assert loudness == {
        "integrated_lufs": None,
        "loudness_range_lu": None,
        "true_peak_dbtp": None,
        "silent": True,
    }


async def test_no_audio_skips_audio_steps(tmp_path: Path) -> None:
    called = []

    async def transcribe(path: Path) -> str:
        called.append(path)
        return "never"

    video = make_video(tmp_path / "mute.mp4", seconds=1, size=(64, 48), with_audio=False)
    result = as_json(await analyze_video(video, tmp_path / "w", transcribe=transcribe))
    assert result["loudness"] is None and result["transcript"] is None and not called
    assert len(result["frames"]) == 3


async def test_transcriber_gets_16k_mono_wav_while_other_steps_run(tmp_path: Path) -> None:
    seen: dict[str, object] = {}

    async def transcribe(path: Path) -> dict:
        with wave.open(str(path)) as wav:
            seen.update(
                rate=wav.getframerate(),
                channels=wav.getnchannels(),
                width=wav.getsampwidth(),
                seconds=wav.getnframes() / wav.getframerate(),
            )
        await asyncio.sleep(1.0)  # a slow recogniser: the other steps finish meanwhile
        return {"text": "a tone", "confidence": float("nan"), "words": ("a", "tone")}

    video = make_video(tmp_path / "v.mp4", seconds=3, size=(160, 120), with_audio=True)
    result = as_json(await analyze_video(video, tmp_path / "w", transcribe=transcribe))
    assert seen == {
        "rate": 16000,
        "channels": 1,
        "width": 2,
        "seconds": pytest.approx(3.0, abs=0.05),
    }
    assert result["transcript"] == {"text": "a tone", "confidence": None, "words": ["a", "tone"]}
    timings = result["timings"]
    sequential = timings["probe"] + timings["frames"] + timings["loudness"] + timings["transcript"]
    # Run one after another, the steps would take at least their sum; concurrently, the
    # total is the probe plus the slowest step.
    assert timings["total"] < sequential - 0.03, timings
    assert timings["total"] < timings["probe"] + timings["transcript"] + 0.5, timings


async def test_a_failing_step_cancels_the_others(tmp_path: Path) -> None:
    marker = f"analysis-{uuid.uuid4().hex}"
    video = make_video(tmp_path / f"{marker}.mp4", seconds=30, size=(64, 48), with_audio=True)

    async def transcribe(path: Path) -> str:
        raise RuntimeError("recogniser crashed")

    with pytest.raises(RuntimeError, match="recogniser crashed"):
        await analyze_video(video, tmp_path / "w", transcribe=transcribe, frame_count=20)
    await asyncio.sleep(0.1)
    assert processes_matching(marker) == []  # no frames/loudness ffmpeg left running


async def test_progress_goes_from_0_to_100(tmp_path: Path) -> None:
    progress: list[tuple[float, str]] = []
    video = make_video(tmp_path / "v.mp4", seconds=2, size=(64, 48))
    await analyze_video(video, tmp_path / "w", on_progress=lambda p, s: progress.append((p, s)))
    percents = [p for p, _ in progress]
    assert percents[0] == 0 and percents[-1] == 100 and percents == sorted(percents)
    assert {s for _, s in progress} == {"analyzing"}


async def test_analysis_rejects_bad_input(tmp_path: Path) -> None:
    garbage = tmp_path / "x.mp4"
    garbage.write_bytes(b"\x00" * 5000)
    started = time.monotonic()
    with pytest.raises(MediaTasksError) as caught:
        await analyze_video(garbage, tmp_path / "w")
    assert caught.value.reason == "UNSUPPORTED_MEDIA" and time.monotonic() - started < 2
    video = make_video(tmp_path / "v.mp4", seconds=1, size=(64, 48))
    for kwargs in ({"frame_count": 0}, {"target_aspect_ratios": ("wide",)}):
        with pytest.raises(MediaTasksError) as caught:
            await analyze_video(video, tmp_path / "w", **kwargs)
        assert caught.value.reason == "INVALID_INPUT"


# ----------------------------------------------------------------- aspect ratio rules


@pytest.mark.parametrize(
    ("size", "ratio", "nearest", "matches_9_16"),
    [
        ((1080, 1920), "9:16", "9:16", True),
        ((720, 1280), "9:16", "9:16", True),
        ((1366, 768), "683:384", "16:9", False),
        ((1000, 1000), "1:1", "1:1", False),
        ((1088, 1920), "17:30", "9:16", True),  # 0.5667 is within 2% of 0.5625
        ((1080, 1350), "4:5", "4:5", False),
    ],
)
def test_aspect_ratio_reduction_and_tolerance(size, ratio, nearest, matches_9_16) -> None:
    result = describe_aspect_ratio(*size, targets=("9:16",))
    assert result["ratio"] == ratio and result["nearest_standard"] == nearest
    assert result["targets"]["9:16"]["matches"] is matches_9_16


def test_non_square_pixels_count_in_the_displayed_ratio() -> None:
    # 720x576 PAL with 16:15 pixels shows as 4:3
    assert describe_aspect_ratio(720, 576, pixel_aspect_ratio=16 / 15)["ratio"] == "4:3"


# ----------------------------------------------------------------------- safe zone


async def test_safe_zone_of_default_srt_on_vertical_video(tmp_path: Path) -> None:
    video = make_video(tmp_path / "tall.mp4", seconds=2, size=(180, 320), with_audio=False)
    subs = make_srt(tmp_path / "c.srt", [(0.2, 0.8, "Buy now"), (1.0, 1.5, "Link in bio")])
    plain = as_json(await analyze_video(video, tmp_path / "w", subtitles_path=subs))
    zone = plain["subtitle_safe_zone"]
    # ffmpeg renders plain SRT near the bottom edge: inside the reserved 20%.
    assert zone["video_is_9_16"] and zone["cues_checked"] == 2 and not zone["ok"]
    assert all("bottom 20%" in v["problem"] for v in zone["violations"])
    assert zone["violations"][0]["bottom_fraction"] > 0.9

    styled = await analyze_video(video, tmp_path / "w2", subtitles_path=subs,
                                 caption_style=CaptionStyle())  # fmt: skip
    assert styled["subtitle_safe_zone"]["ok"], styled["subtitle_safe_zone"]


def _ass(events: list[str], play_res: tuple[int, int] = (1080, 1920)) -> pysubs2.SSAFile:
    text = (
        f"[Script Info]\nScriptType: v4.00+\nPlayResX: {play_res[0]}\nPlayResY: {play_res[1]}\n\n"
        "[V4+ Styles]\nFormat: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, "
        "OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, "
        "Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\n"
        "Style: Default,Arial,60,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,"
        "0,0,1,3,0,2,40,40,500,1\n\n"
        "[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, "
        "Text\n"
    )
    text += "".join(f"Dialogue: 0,0:00:0{i}.00,0:00:0{i}.90,Default,,0,0,0,,{e}\n" for i, e in enumerate(events))
    return pysubs2.SSAFile.from_string(text)


def test_safe_zone_rules_for_positioned_cues() -> None:
    result = check_subtitle_safe_zone(
        _ass(
            [
                "Safe at the default 500 px margin",  # bottom at 1420/1920 = 0.74
                r"{\an8}Top edge",  # top aligned at MarginV 500: fine
                r"{\pos(540,100)\an8}Under the status bar",  # top at 100/1920 = 0.05
                r"{\pos(540,1850)}Behind the buttons",  # bottom anchored at 0.96
                r"{\an5}Centre",
                r"Line one\NLine two\NLine three\NLine four\NLine five\NLine six",  # grows up
                r"{\fs200}HUGE",
            ]
        )
    )
    problems = {v["index"]: v["problem"] for v in result["violations"]}
    assert set(problems) == {2, 3}, result["violations"]
    assert "top 10%" in problems[2] and "bottom 20%" in problems[3]
    assert result["cues_checked"] == 7 and not result["ok"]


def test_safe_zone_counts_wrapped_lines() -> None:
    long_line = "word " * 300  # ~50 lines at 60 px (30 characters per 1000 px line)
    result = check_subtitle_safe_zone(_ass([long_line]))
    (violation,) = result["violations"]
    assert violation["top_fraction"] < 0.10  # the block grew past the top reserve


async def test_frames_come_from_the_picture_when_audio_runs_longer(tmp_path: Path) -> None:
    picture = make_solid_video(tmp_path / "p.mp4", seconds=2, size=(64, 48), color="0x336699")
    tone = tmp_path / "t.wav"
    ffmpeg("-f", "lavfi", "-i", "sine=duration=4", str(tone))
    video = tmp_path / "long_audio.mp4"
    ffmpeg("-i", str(picture), "-i", str(tone), "-c:v", "copy", "-c:a", "aac", str(video))
    result = await analyze_video(video, tmp_path / "w")
    assert result["duration_seconds"] == pytest.approx(4.0, abs=0.05)
    assert [f["time_seconds"] for f in result["frames"]] == pytest.approx([1 / 3, 1.0, 5 / 3], abs=1e-3)
    with Image.open(result["frames"][0]["path"]) as frame:  # full-range JPEG: true colours
        pixel = frame.getpixel((5, 5))
        assert all(abs(a - b) < 6 for a, b in zip(pixel, (0x33, 0x66, 0x99), strict=True))
    # A seek past the last picture yields no frame for that time, not a failed analysis.
    frames = await extract_frames(video, tmp_path / "direct", 4.0, 3)
    assert [f["time_seconds"] for f in frames] == pytest.approx([0.667])
