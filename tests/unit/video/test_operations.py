"""burn_captions, images_to_video and add_audio on tiny real media."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest
from helpers.media import (
    audio_samples,
    changed_pixels,
    count_video_frames,
    frame_at,
    make_image,
    make_solid_video,
    make_srt,
    make_tone,
    make_video,
    process_exists,
    processes_matching,
    rms,
    truncate_copy,
)
from mediatasks.core.errors import MediaTasksError
from mediatasks.media.ffmpeg import probe
from mediatasks.video.operations import (
    CaptionStyle,
    add_audio,
    burn_captions,
    escape_filter_value,
    images_to_video,
)
from PIL import Image

WIDTH, HEIGHT = 320, 240
BOTTOM_BAND = (0, int(HEIGHT * 0.75), WIDTH, HEIGHT)  # where bottom captions land
TOP_BAND = (0, 0, WIDTH, int(HEIGHT * 0.25))


@pytest.fixture()
def solid_video(tmp_path: Path) -> Path:
    return make_solid_video(tmp_path / "solid.mp4", seconds=3, size=(WIDTH, HEIGHT), with_audio=True)


@pytest.fixture()
def cues(tmp_path: Path) -> Path:
    return make_srt(tmp_path / "cues.srt", [(0.5, 1.5, "Hello captions"), (2.2, 2.6, "Second cue")])


# ---------------------------------------------------------------------- burn captions


async def test_captions_appear_only_during_cues(tmp_path: Path, solid_video: Path, cues: Path) -> None:
    progress: list[float] = []
    out = tmp_path / "captioned.mp4"
    info = await burn_captions(solid_video, cues, out, on_progress=lambda percent, stage: progress.append(percent))
    for at, expect_caption in [(1.0, True), (2.4, True), (0.2, False), (1.9, False), (2.9, False)]:
        source, burned = frame_at(solid_video, at), frame_at(out, at)
        changed = changed_pixels(source, burned, BOTTOM_BAND)
        if expect_caption:
            assert changed > 30, f"no caption at {at}s ({changed} pixels changed)"
        else:
            assert changed <= 2, f"unexpected change at {at}s ({changed} pixels changed)"
        # the rest of the frame is untouched either way
        assert changed_pixels(source, burned, TOP_BAND) <= 2
    assert count_video_frames(out) == count_video_frames(solid_video) == 75
    assert info.video_codec == "h264" and info.audio_codec == "aac"
    assert info.duration_seconds == pytest.approx(3.0, abs=0.05)
    assert progress[0] == 0 and progress[-1] == 100
    assert not list(tmp_path.glob(".*.part")) and not list(tmp_path.glob(".captions-*"))


async def test_caption_style_position_and_colour(tmp_path: Path, solid_video: Path, cues: Path) -> None:
    out = tmp_path / "top.mp4"
    style = CaptionStyle(position="top", margin_v=10, font_size=28, primary_color="#FFFF00", bold=True)
    await burn_captions(solid_video, cues, out, style=style)
    source, burned = frame_at(solid_video, 1.0), frame_at(out, 1.0)
    assert changed_pixels(source, burned, TOP_BAND) > 30
    assert changed_pixels(source, burned, BOTTOM_BAND) <= 2
    # Somewhere in the caption there is yellow text (high red and green, low blue).
    top = burned.convert("RGB").crop(TOP_BAND)
    assert any(r > 200 and g > 200 and b < 80 for r, g, b in top.get_flattened_data())


@pytest.mark.parametrize("kind", ["vtt", "ass"])
async def test_vtt_and_ass_subtitles_burn(tmp_path: Path, solid_video: Path, kind: str) -> None:
    if kind == "vtt":
        subs = tmp_path / "cues.vtt"
        subs.write_text("WEBVTT\n\n00:00:00.500 --> 00:00:01.500\nHello from VTT\n")
    else:
        subs = tmp_path / "cues.ass"
        subs.write_text(
            "[Script Info]\nScriptType: v4.00+\nPlayResX: 320\nPlayResY: 240\n\n"
            "[V4+ Styles]\nFormat: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, "
            "OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, "
            "Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, "
            "MarginV, Encoding\n"
            "Style: Default,DejaVu Sans,24,&H00FFFFFF,&H000000FF,&H00000000,&H80000000,"
            "0,0,0,0,100,100,0,0,1,2,0,2,10,10,10,1\n\n"
            "[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, "
            "Effect, Text\nDialogue: 0,0:00:00.50,0:00:01.50,Default,,0,0,0,,Hello from ASS\n"
        )
    out = tmp_path / f"{kind}.mp4"
    await burn_captions(solid_video, subs, out)
    assert changed_pixels(frame_at(solid_video, 1.0), frame_at(out, 1.0), BOTTOM_BAND) > 30
    assert changed_pixels(frame_at(solid_video, 2.0), frame_at(out, 2.0), BOTTOM_BAND) <= 2


async def test_paths_with_filtergraph_special_characters(tmp_path: Path, cues: Path) -> None:
    weird = tmp_path / "it's [a], weird; dir: 100%"
    weird.mkdir()
    video = make_solid_video(weird / "in put.mp4", seconds=2, size=(WIDTH, HEIGHT))
    out = weird / "out's.mp4"
    await burn_captions(video, cues, out)
    assert changed_pixels(frame_at(video, 1.0), frame_at(out, 1.0), BOTTOM_BAND) > 30
    # option level: a\:b\'c, then graph level escapes those backslashes and the quote
    assert escape_filter_value("a:b'c") == r"a\\:b\\\'c"


async def test_odd_sized_video_without_audio(tmp_path: Path, cues: Path) -> None:
    video = make_video(
        tmp_path / "odd.mkv", seconds=2, size=(320, 240), with_audio=False,
        video_codec=("libx264", "-preset", "ultrafast", "-pix_fmt", "yuv444p"),
        extra=("-vf", "scale=321:241"),
    )  # fmt: skip
    assert (probe(video).width, probe(video).height) == (321, 241)
    info = await burn_captions(video, cues, tmp_path / "odd.mp4")
    assert (info.width, info.height) == (322, 242) and not info.has_audio


async def test_burn_captions_rejects_bad_inputs(tmp_path: Path, cues: Path) -> None:
    tone = make_tone(tmp_path / "tone.m4a", 1.0)
    with pytest.raises(MediaTasksError) as caught:
        await burn_captions(tone, cues, tmp_path / "x.mp4")
    assert caught.value.reason == "UNSUPPORTED_MEDIA" and "no video stream" in caught.value.message

    video = make_video(tmp_path / "v.mp4", seconds=1)
    garbage = tmp_path / "garbage.srt"
    garbage.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(MediaTasksError) as caught:
        await burn_captions(video, garbage, tmp_path / "x.mp4")
    assert caught.value.reason == "UNSUPPORTED_MEDIA"

    empty = tmp_path / "empty.srt"
    empty.write_text("\n")
    with pytest.raises(MediaTasksError) as caught:
        await burn_captions(video, empty, tmp_path / "x.mp4")
    assert caught.value.reason in ("INVALID_INPUT", "UNSUPPORTED_MEDIA")

    with pytest.raises(MediaTasksError) as caught:
        await burn_captions(video, cues, tmp_path / "x.mp4", style=CaptionStyle(primary_color="red"))
    assert caught.value.reason == "INVALID_INPUT"
    assert not (tmp_path / "x.mp4").exists()


async def test_truncated_video_fails_fast(tmp_path: Path, cues: Path) -> None:
    video = make_video(tmp_path / "v.mp4", seconds=2)
    cut = truncate_copy(video, tmp_path / "cut.mp4", 0.6)
    started = time.monotonic()
    with pytest.raises(MediaTasksError) as caught:
        await burn_captions(cut, cues, tmp_path / "x.mp4")
    assert caught.value.reason == "UNSUPPORTED_MEDIA"
    assert time.monotonic() - started < 2


async def test_cancelled_burn_leaves_no_output_and_no_process(tmp_path: Path, cues: Path) -> None:
    marker = f"cancelburn-{uuid.uuid4().hex}"
    job = tmp_path / marker
    job.mkdir()
    video = make_solid_video(job / "long.mp4", seconds=20, size=(640, 480))
    out = job / "out.mp4"
    task = asyncio.ensure_future(burn_captions(video, cues, out, preset="slow"))
    deadline = time.monotonic() + 10
    while not (pids := processes_matching(marker)) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert pids, "ffmpeg never started"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    started = time.monotonic()
    while any(process_exists(pid) for pid in pids):
        assert time.monotonic() - started < 2, "ffmpeg outlived the cancellation"
        await asyncio.sleep(0.01)
    assert not out.exists()
    assert sorted(p.name for p in job.iterdir()) == ["long.mp4"]  # no .part, no scratch dir


# -------------------------------------------------------------------- images to video


async def test_slideshow_duration_is_the_sum_within_one_frame(tmp_path: Path) -> None:
    colors = ["red", "green", "blue", "white", "yellow", "cyan", "magenta"]
    images = [make_image(tmp_path / f"{i}.png", (64, 48), color) for i, color in enumerate(colors)]
    durations = [0.33] * 7  # 3.3 frames each at 10 fps: per-image rounding would lose 0.21 s
    info = await images_to_video(list(zip(images, durations, strict=True)), tmp_path / "s.mp4",
                                 width=64, height=48, fps=10)  # fmt: skip
    assert info.video_duration_seconds == pytest.approx(sum(durations), abs=1 / 10)
    assert count_video_frames(tmp_path / "s.mp4") == round(sum(durations) * 10)


async def test_mixed_aspect_ratios_are_letterboxed(tmp_path: Path) -> None:
    landscape = make_image(tmp_path / "four_three.jpg", (400, 300), (255, 0, 0))
    portrait = make_image(tmp_path / "nine_sixteen.png", (90, 160), (0, 0, 255))
    out = tmp_path / "mixed.mp4"
    progress: list[float] = []
    info = await images_to_video(
        [(landscape, 1.3), (portrait, 0.77)], out, width=320, height=180, fps=25,
        background="#00FF00", on_progress=lambda p, s: progress.append(p),
    )  # fmt: skip
    assert (info.width, info.height) == (320, 180)
    assert info.video_duration_seconds == pytest.approx(2.07, abs=1 / 25)
    assert progress[-1] == 100

    def close(pixel: tuple[int, ...], expected: tuple[int, int, int]) -> bool:
        return all(abs(a - b) < 40 for a, b in zip(pixel[:3], expected, strict=True))

    first = frame_at(out, 0.5).convert("RGB")  # 4:3 in 16:9: pillarboxed 240x180
    assert close(first.getpixel((160, 90)), (255, 0, 0))
    assert close(first.getpixel((10, 90)), (0, 255, 0)) and close(first.getpixel((310, 90)), (0, 255, 0))
    second = frame_at(out, 1.8).convert("RGB")  # 9:16 in 16:9: about 102x180 in the middle
    assert close(second.getpixel((160, 90)), (0, 0, 255))
    assert close(second.getpixel((60, 90)), (0, 255, 0)) and close(second.getpixel((260, 90)), (0, 255, 0))


async def test_exif_rotated_photo_is_upright_in_slideshow(tmp_path: Path) -> None:
    wide = Image.new("RGB", (200, 100), (255, 0, 0))
    wide.paste((0, 0, 255), (100, 0, 200, 100))  # left red, right blue as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90° clockwise: left (red) becomes the top
    wide.save(tmp_path / "phone.jpg", exif=exif.tobytes())
    out = tmp_path / "phone.mp4"
    await images_to_video([(tmp_path / "phone.jpg", 0.4)], out, width=100, height=200, fps=10)
    frame = frame_at(out, 0.1).convert("RGB")
    assert frame.getpixel((50, 40))[0] > 200 and frame.getpixel((50, 160))[2] > 200


async def test_images_to_video_validates(tmp_path: Path) -> None:
    image = make_image(tmp_path / "a.png", (32, 32))
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    cases = [
        ([], {}, "INVALID_INPUT"),
        ([(image, 0)], {}, "INVALID_INPUT"),
        ([(image, 0.01)], {}, "INVALID_INPUT"),  # shorter than a frame
        ([(image, 1)], {"width": 321}, "INVALID_INPUT"),
        ([(image, 1)], {"background": "green"}, "INVALID_INPUT"),
        ([(text, 1)], {}, "UNSUPPORTED_MEDIA"),
        ([(image, 1)], {"max_image_pixels": 100}, "INVALID_INPUT"),
    ]
    for items, overrides, reason in cases:
        kwargs = {"width": 320, "height": 240, "fps": 25} | overrides
        with pytest.raises(MediaTasksError) as caught:
            await images_to_video(items, tmp_path / "x.mp4", **kwargs)
        assert caught.value.reason == reason, (items, overrides, caught.value)


# -------------------------------------------------------------------------- add audio


@pytest.fixture()
def silent_video(tmp_path: Path) -> Path:
    return make_video(tmp_path / "mute.mp4", seconds=3, size=(160, 120), with_audio=False)


def _seconds(samples: list[int], rate: int = 8000) -> float:
    return len(samples) / rate


async def test_pad_mode_fills_short_audio_with_silence(tmp_path: Path, silent_video: Path) -> None:
    tone = make_tone(tmp_path / "tone.m4a", 1.0)
    info = await add_audio(silent_video, tone, tmp_path / "pad.mp4", mode="pad")
    assert info.has_video and info.has_audio and info.audio_codec == "aac"
    assert info.duration_seconds == pytest.approx(3.0, abs=1 / 25)
    samples = audio_samples(tmp_path / "pad.mp4")
    assert _seconds(samples) == pytest.approx(3.0, abs=0.05)
    assert rms(samples[int(0.2 * 8000) : int(0.8 * 8000)]) > 1000  # the tone
    assert rms(samples[int(1.5 * 8000) : int(2.9 * 8000)]) < 50  # then silence


async def test_trim_mode_cuts_long_audio(tmp_path: Path, silent_video: Path) -> None:
    tone = make_tone(tmp_path / "long.wav", 5.0)
    info = await add_audio(silent_video, tone, tmp_path / "trim.mp4", mode="trim")
    assert info.duration_seconds == pytest.approx(3.0, abs=1 / 25)
    assert _seconds(audio_samples(tmp_path / "trim.mp4")) == pytest.approx(3.0, abs=0.05)


async def test_loop_mode_repeats_short_audio(tmp_path: Path, silent_video: Path) -> None:
    tone = make_tone(tmp_path / "short.wav", 1.0)
    info = await add_audio(silent_video, tone, tmp_path / "loop.mp4", mode="loop", volume=0.5)
    assert info.duration_seconds == pytest.approx(3.0, abs=1 / 25)
    samples = audio_samples(tmp_path / "loop.mp4")
    assert _seconds(samples) == pytest.approx(3.0, abs=0.05)
    assert rms(samples[int(2.2 * 8000) : int(2.8 * 8000)]) > 500  # still sounding at 2.5 s


async def test_mix_with_original_audio_and_volume(tmp_path: Path) -> None:
    video = make_video(tmp_path / "v.mp4", seconds=2, size=(160, 120), with_audio=True)
    tone = make_tone(tmp_path / "t.wav", 4.0, frequency=1000)
    replaced = await add_audio(video, tone, tmp_path / "replaced.mp4", volume=0.0)
    mixed = await add_audio(video, tone, tmp_path / "mixed.mp4", replace=False, volume=0.0)
    assert replaced.duration_seconds == pytest.approx(2.0, abs=1 / 25)
    assert mixed.duration_seconds == pytest.approx(2.0, abs=1 / 25)
    # volume 0 silences the new audio: replacing leaves silence, mixing keeps the original
    assert rms(audio_samples(tmp_path / "replaced.mp4")) < 50
    assert rms(audio_samples(tmp_path / "mixed.mp4")) > 1000
    assert len(probe(tmp_path / "mixed.mp4").to_dict()) and mixed.has_video


async def test_add_audio_validates(tmp_path: Path, silent_video: Path) -> None:
    tone = make_tone(tmp_path / "t.wav", 1.0)
    image = make_image(tmp_path / "i.png", (32, 32))
    for video, audio, kwargs, reason in [
        (silent_video, image, {}, "UNSUPPORTED_MEDIA"),  # "audio" without audio
        (tone, tone, {}, "UNSUPPORTED_MEDIA"),  # "video" without video
        (silent_video, tone, {"mode": "stretch"}, "INVALID_INPUT"),
        (silent_video, tone, {"volume": -1}, "INVALID_INPUT"),
    ]:
        with pytest.raises(MediaTasksError) as caught:
            await add_audio(video, audio, tmp_path / "x.mp4", **kwargs)
        assert caught.value.reason == reason, (video, audio, kwargs)


async def test_no_usable_font_fails_instead_of_invisible_captions(
    tmp_path: Path, cues: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A fontconfig setup that knows no fonts (as on a worker image without font packages).
    empty = tmp_path / "no-fonts"
    empty.mkdir()
    config = tmp_path / "fonts.conf"
    config.write_text(
        '<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
        f"<dir>{empty}</dir><cachedir>{tmp_path / 'cache'}</cachedir></fontconfig>"
    )
    monkeypatch.setenv("FONTCONFIG_FILE", str(config))
    video = make_solid_video(tmp_path / "v.mp4", seconds=2, size=(WIDTH, HEIGHT))
    with pytest.raises(MediaTasksError) as caught:
        await burn_captions(video, cues, tmp_path / "out.mp4")
    assert caught.value.reason == "FONTS_MISSING" and "fonts-dejavu-core" in caught.value.message
    assert not (tmp_path / "out.mp4").exists()
    # A fonts directory given with the job is enough.
    await burn_captions(video, cues, tmp_path / "out.mp4", fonts_dir="/usr/share/fonts/truetype/dejavu")
    assert changed_pixels(frame_at(video, 1.0), frame_at(tmp_path / "out.mp4", 1.0), BOTTOM_BAND) > 30
