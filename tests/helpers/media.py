"""Tiny real media for tests, made on the spot with ffmpeg (lavfi sources) and Pillow.

Every helper writes a real file (nothing is mocked) and returns its path. Keep sizes and
durations small: the test machines have two cores.
"""

from __future__ import annotations

import io
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

import imageio_ffmpeg
from PIL import Image

FFMPEG_TIMEOUT_SECONDS = 60.0
EXIF_ORIENTATION_TAG = 0x0112


def ffmpeg(*args: str, timeout: float = FFMPEG_TIMEOUT_SECONDS) -> None:
    """Run the wheel's ffmpeg synchronously (for making fixtures); raise on failure."""
    command = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-hide_banner",
        "-nostdin",
        "-y",
        "-loglevel",
        "error",
    ]
    result = subprocess.run([*command, *args], capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg {' '.join(args)} failed: {result.stderr[-2000:]}")


def make_video(
    path: str | os.PathLike[str],
    seconds: float = 2.0,
    size: tuple[int, int] = (320, 240),
    fps: int = 25,
    with_audio: bool = True,
    *,
    tone_hz: int = 440,
    video_codec: Sequence[str] = ("libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"),
    audio_codec: Sequence[str] = ("aac", "-b:a", "64k"),
    extra: Sequence[str] = (),
) -> Path:
    """A ``testsrc2`` video (moving colour pattern) with an optional sine tone."""
    width, height = size
    args = ["-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}:duration={seconds}"]
    if with_audio:
        args += [
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency={tone_hz}:sample_rate=48000:duration={seconds}",
        ]
    args += ["-map", "0:v"]
    if with_audio:
        args += ["-map", "1:a", "-c:a", *audio_codec]
    args += ["-c:v", *video_codec, *extra, str(path)]
    ffmpeg(*args)
    return Path(path)


def make_solid_video(
    path: str | os.PathLike[str],
    seconds: float = 2.0,
    size: tuple[int, int] = (320, 240),
    fps: int = 25,
    color: str = "0x336699",
    with_audio: bool = False,
) -> Path:
    """A video of one flat colour (for pixel comparisons), optionally with a tone."""
    width, height = size
    args = [
        "-f",
        "lavfi",
        "-i",
        f"color=c={color}:size={width}x{height}:rate={fps}:duration={seconds}",
    ]
    if with_audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
        args += ["-c:a", "aac", "-b:a", "64k"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)]
    ffmpeg(*args)
    return Path(path)


def make_tone(
    path: str | os.PathLike[str],
    seconds: float = 2.0,
    *,
    frequency: int = 440,
    sample_rate: int = 48000,
    volume_db: float = 0.0,
) -> Path:
    """A sine tone; the container/codec follow the file extension (.wav, .m4a, .mp3...)."""
    source = f"sine=frequency={frequency}:sample_rate={sample_rate}:duration={seconds}"
    ffmpeg("-f", "lavfi", "-i", source, "-af", f"volume={volume_db}dB", str(path))
    return Path(path)


def make_silence(path: str | os.PathLike[str], seconds: float = 2.0, *, sample_rate: int = 48000) -> Path:
    """Digital silence (for loudness edge cases)."""
    source = f"anullsrc=channel_layout=mono:sample_rate={sample_rate}"
    ffmpeg("-f", "lavfi", "-i", source, "-t", str(seconds), str(path))
    return Path(path)


def frame_at(path: str | os.PathLike[str], seconds: float) -> Image.Image:
    """The decoded video frame shown at ``seconds`` (the last one starting at or before it)."""
    import av

    chosen = None
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if frame.time is not None and frame.time > seconds + 1e-6:
                break
            chosen = frame.to_image()
    if chosen is None:
        raise AssertionError(f"{path} has no frame at {seconds}s")
    return chosen


def count_video_frames(path: str | os.PathLike[str]) -> int:
    """Decode every video frame (raises if any packet is undecodable) and count them."""
    import av

    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def audio_samples(path: str | os.PathLike[str], rate: int = 8000) -> list[int]:
    """The first audio stream decoded to mono signed 16-bit samples at ``rate`` Hz."""
    import array

    import av

    samples = array.array("h")
    resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                samples.frombytes(bytes(out.planes[0])[: out.samples * 2])
        for out in resampler.resample(None):
            samples.frombytes(bytes(out.planes[0])[: out.samples * 2])
    return samples.tolist()


def rms(samples: list[int]) -> float:
    """Root mean square of 16-bit samples (0 for silence, ~4000 for a -18 dBFS sine)."""
    return (sum(value * value for value in samples) / len(samples)) ** 0.5 if samples else 0.0


def region_difference(a: Image.Image, b: Image.Image, box: tuple[int, int, int, int]) -> float:
    """Mean absolute per-channel difference of two frames inside ``box`` (l, t, r, b)."""
    pixels_a = a.convert("RGB").crop(box).tobytes()
    pixels_b = b.convert("RGB").crop(box).tobytes()
    return sum(abs(x - y) for x, y in zip(pixels_a, pixels_b, strict=True)) / len(pixels_a)


def changed_pixels(a: Image.Image, b: Image.Image, box: tuple[int, int, int, int], threshold: int = 40) -> int:
    """How many pixels inside ``box`` differ by more than ``threshold`` in some channel
    (robust to compression noise, sensitive to drawn text)."""
    pixels_a = a.convert("RGB").crop(box).get_flattened_data()
    pixels_b = b.convert("RGB").crop(box).get_flattened_data()
    return sum(
        1
        for pa, pb in zip(pixels_a, pixels_b, strict=True)
        if max(abs(x - y) for x, y in zip(pa, pb, strict=True)) > threshold
    )


def image_bytes(
    size: tuple[int, int] = (64, 48),
    color: str | tuple[int, ...] = "red",
    *,
    format: str = "PNG",
    mode: str = "RGB",
    exif_orientation: int | None = None,
) -> bytes:
    """An encoded image of one colour, optionally with an EXIF orientation tag."""
    image = Image.new(mode, size, color)
    buffer = io.BytesIO()
    params = {}
    if exif_orientation is not None:
        exif = Image.Exif()
        exif[EXIF_ORIENTATION_TAG] = exif_orientation
        params["exif"] = exif.tobytes()
    image.save(buffer, format=format, **params)
    return buffer.getvalue()


def make_image(
    path: str | os.PathLike[str],
    size: tuple[int, int] = (64, 48),
    color: str | tuple[int, ...] = "red",
    *,
    format: str | None = None,
    exif_orientation: int | None = None,
) -> Path:
    """An image file of one colour; the format follows the extension unless given."""
    path = Path(path)
    fmt = format or Image.registered_extensions().get(path.suffix.lower(), "PNG")
    path.write_bytes(image_bytes(size, color, format=fmt, exif_orientation=exif_orientation))
    return path


def make_srt(path: str | os.PathLike[str], cues: Sequence[tuple[float, float, str]]) -> Path:
    """An SRT file from ``(start_seconds, end_seconds, text)`` cues."""

    def stamp(seconds: float) -> str:
        millis = round(seconds * 1000)
        hours, rest = divmod(millis, 3_600_000)
        minutes, rest = divmod(rest, 60_000)
        secs, millis = divmod(rest, 1000)
        return f"{hours:02}:{minutes:02}:{secs:02},{millis:03}"

    blocks = [
        f"{number}\n{stamp(start)} --> {stamp(end)}\n{text}\n"
        for number, (start, end, text) in enumerate(cues, start=1)
    ]
    Path(path).write_text("\n".join(blocks), encoding="utf-8")
    return Path(path)


def truncate_copy(source: str | os.PathLike[str], target: str | os.PathLike[str], fraction: float = 0.5) -> Path:
    """The first ``fraction`` of a file's bytes (a download cut short)."""
    data = Path(source).read_bytes()
    Path(target).write_bytes(data[: int(len(data) * fraction)])
    return Path(target)


def processes_matching(marker: str) -> list[int]:
    """Pids of processes whose command line contains ``marker``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if marker.encode() in cmdline:
            pids.append(int(entry.name))
    return pids


def process_exists(pid: int) -> bool:
    """True while ``pid`` is running *or* a zombie (exited but not reaped by its parent)."""
    return Path(f"/proc/{pid}").exists()
