"""Running ffmpeg and probing media files, the two primitives every local video job uses.

ffmpeg comes from the ``imageio-ffmpeg`` wheel (a static build with libass, x264, aac and
opus); the wheel has no ffprobe, so :func:`probe` reads containers with PyAV instead.

:func:`run_ffmpeg` runs one ffmpeg process (see :mod:`mediatasks.media.processes`) in its own process
group, turns ``-progress pipe:1`` output into throttled percent callbacks, and makes sure
the process is gone when the call ends for any reason: success, failure, timeout or the
awaiting task being cancelled (the job's cancel signal).

User files are opened with local files as the only protocol and a whitelist of media
container formats (:func:`input_args` for ffmpeg, the same options in :func:`probe` for
PyAV): ffmpeg detects formats from content, and playlists (HLS), concat lists or
manifests (DASH, IMF) would make it read other files or URLs.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import grpc

from mediatasks.core.errors import MediaTasksError, invalid_input, transient, unsupported_media
from mediatasks.core.inputs import refuse_reference_formats
from mediatasks.media.processes import ChildProcess, spawn

if TYPE_CHECKING:
    from av.audio.stream import AudioStream
    from av.container import InputContainer
    from av.stream import Stream
    from av.video.stream import VideoStream

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[float, str], Awaitable[None] | None]
"""``on_progress(percent, stage)``: percent is 0–100; sync or async."""

DEFAULT_TIMEOUT_SECONDS = 3600.0
# Address space one ffmpeg process may use (RLIMIT_AS), set once per process from
# MEDIATASKS_FFMPEG_MAX_MEMORY_BYTES by configure_limits(); 0 is no limit.
_memory_limit_bytes = 0
STDERR_TAIL_LINES = 50
PROGRESS_MIN_INTERVAL_SECONDS = 0.25
# How long to wait for a killed process to be reaped before giving up on it (it is
# SIGKILLed, so this only matters if the kernel is very slow).
_REAP_TIMEOUT_SECONDS = 2.0

# Demuxers user inputs may be read with (ffmpeg's names; a name with commas, such as
# "mov,mp4,m4a,3gp,3g2,mj2", matches when any of its parts is listed). Anything else is
# refused before its header is read: notably hls, dash, concat, imf, sdp/rtp/rtsp (they
# open further files or URLs), avisynth and dvdvideo (they run scripts or read devices).
INPUT_FORMATS = ",".join(
    (
        # video containers and elementary streams
        "mov", "matroska", "avi", "flv", "mpegts", "mpeg", "mpegvideo", "m4v", "h264", "hevc",
        "obu", "ivf", "ogg", "asf", "mxf", "dv", "nut", "rm", "wtv", "yuv4mpegpipe", "mjpeg",
        # audio
        "mp3", "aac", "ac3", "eac3", "flac", "wav", "w64", "aiff", "caf", "au", "amr", "amrnb",
        "amrwb", "ape", "wv", "tta", "mpc", "mpc8", "dts", "dtshd", "truehd", "mlp", "loas",
        "tak", "dsf", "voc", "gsm", "xwma",
        # still and animated images
        "image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe", "gif",
        "gif_pipe", "apng", "webp_anim", "qoi_pipe", "pam_pipe", "pbm_pipe", "pgm_pipe",
        "ppm_pipe", "psd_pipe", "jpegxl_pipe", "jpegxl_anim", "j2k_pipe", "dpx_pipe",
        "exr_pipe", "hdr_pipe", "pcx_pipe", "sgi_pipe", "sunrast_pipe",
    )
)  # fmt: skip
INPUT_PROTOCOLS = "file"


def input_args(path: str | os.PathLike[str]) -> list[str]:
    """The ffmpeg arguments that open ``path`` as one input: ``-protocol_whitelist file
    -format_whitelist <INPUT_FORMATS> -i <absolute path>``.

    Put per-input options such as ``-ss`` or ``-stream_loop`` before them. The path is made
    absolute, so it is never read as an option or a ``protocol:`` URL.
    """
    return [
        "-protocol_whitelist",
        INPUT_PROTOCOLS,
        "-format_whitelist",
        INPUT_FORMATS,
        "-i",
        os.path.abspath(path),
    ]


# What ffmpeg prints when an input breaks the whitelists above, and the reason to give.
_POLICY_FAILURES = (
    ("Format not on whitelist", "its container format is not one mediatasks accepts"),
    ("not on whitelist", "it refers to a file or URL that may not be opened"),
)
# Short, stable phrases ffmpeg prints for the failures users cause; the first one found
# in the stderr tail becomes the error message instead of a wall of log lines.
_KNOWN_FAILURES = (
    "Invalid data found when processing input",
    "moov atom not found",
    "does not contain any stream",
    "Output file is empty, nothing was encoded",
    "No such file or directory",
    "Permission denied",
    "Decoding requested, but no decoder found",
    "Unknown decoder",
    "Error while decoding stream",
    "Invalid frame dimensions",
    "Cannot allocate memory",
    "Unable to open",
    "Invalid argument",
)
_ERROR_WORDS = re.compile(r"error|invalid|failed|cannot|unable|not found|no such", re.IGNORECASE)
_GENERIC_LINES = re.compile(r"^(Conversion failed!?|Exiting normally.*|Error opening output files?.*)$")
_LOG_PREFIX = re.compile(r"^\[[^\]]+ @ 0x[0-9a-f]+\]\s*")


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """The path of the ffmpeg binary shipped in the ``imageio-ffmpeg`` wheel."""
    import imageio_ffmpeg  # lazy: imageio-ffmpeg comes with the optional `media` extra

    return imageio_ffmpeg.get_ffmpeg_exe()


class ProgressReporter:
    """Throttles percent reports for one stage: at most one per ``min_interval`` seconds,
    never going backwards, with 100 always delivered once."""

    def __init__(
        self,
        callback: ProgressCallback | None,
        stage: str,
        *,
        min_interval: float = PROGRESS_MIN_INTERVAL_SECONDS,
    ) -> None:
        self._callback = callback
        self._stage = stage
        self._min_interval = min_interval
        self._last_time = float("-inf")
        self._last_percent = -1.0

    async def report(self, percent: float, *, force: bool = False) -> None:
        """Deliver ``percent`` (clamped to 0–100) unless throttled or not an advance."""
        if self._callback is None:
            return
        percent = max(0.0, min(100.0, percent))
        if percent <= self._last_percent:
            return
        now = time.monotonic()
        if not force and percent < 100.0 and now - self._last_time < self._min_interval:
            return
        self._last_time = now
        self._last_percent = percent
        try:
            result = self._callback(round(percent, 2), self._stage)
            if inspect.isawaitable(result):
                await result
        except Exception:  # a broken progress sink must not fail the media work itself
            logger.warning("progress callback failed (stage=%s)", self._stage, exc_info=True)


def configure_limits(*, memory_bytes: int) -> None:
    """The memory cap of every ffmpeg this process starts (the media services call it
    with their settings at start)."""
    global _memory_limit_bytes
    _memory_limit_bytes = max(0, int(memory_bytes))


def _error_reason(stderr_tail: Sequence[str]) -> str:
    """A short human reason for an ffmpeg failure, picked from its last stderr lines."""
    text = "\n".join(stderr_tail)
    for phrase, reason in _POLICY_FAILURES:
        if phrase in text:
            return reason
    for phrase in _KNOWN_FAILURES:
        if phrase in text:
            return phrase
    for line in reversed(stderr_tail):
        line = _LOG_PREFIX.sub("", line.strip())
        if line and not _GENERIC_LINES.match(line) and _ERROR_WORDS.search(line):
            return line[:300]
    for line in reversed(stderr_tail):
        if line.strip():
            return _LOG_PREFIX.sub("", line.strip())[:300]
    return "ffmpeg failed without a message"


async def _reap(process: ChildProcess) -> None:
    """Wait (bounded) for a killed process so no zombie is left behind."""
    try:
        await asyncio.wait_for(process.wait(), _REAP_TIMEOUT_SECONDS)
    except TimeoutError:
        logger.warning("ffmpeg pid %s not reaped within %.1fs", process.pid, _REAP_TIMEOUT_SECONDS)


async def _read_lines(stream: asyncio.StreamReader, on_line: Callable[[str], Awaitable[None]]) -> None:
    """Split a pipe into lines without StreamReader's line-length limit (ffmpeg can print
    very long lines, e.g. a filter graph dump)."""
    pending = b""
    while True:
        chunk = await stream.read(65536)
        if not chunk:
            break
        pending += chunk
        *lines, pending = re.split(rb"[\r\n]", pending)
        for raw in lines:
            if raw:
                await on_line(raw.decode("utf-8", "replace"))
        if len(pending) > 65536:  # an absurdly long line: keep its start only
            await on_line(pending[:4096].decode("utf-8", "replace"))
            pending = b""
    if pending:
        await on_line(pending.decode("utf-8", "replace"))


async def run_ffmpeg_capture(
    args: Sequence[str],
    *,
    expected_duration: float | None = None,
    on_progress: ProgressCallback | None = None,
    stage: str = "processing",
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    keep_matching: Sequence[str] = (),
) -> list[str]:
    """Like :func:`run_ffmpeg`, and return stderr lines: first every line containing one
    of ``keep_matching`` (up to 100, wherever they appeared), then the last lines (for
    filters that report results in the log, such as ``ebur128``)."""
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-progress", "pipe:1", "-nostats"]
    command += [str(arg) for arg in args]
    reporter = ProgressReporter(on_progress, stage)
    stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
    matched: list[str] = []
    logger.debug("running %s", " ".join(command))

    # Its own process group, so a kill reaches anything it starts.
    process = await spawn(command, new_session=True, memory_limit_bytes=_memory_limit_bytes)

    totals: dict[str, str] = {}

    async def on_progress_line(line: str) -> None:
        key, _, value = line.partition("=")
        if key in ("frame", "total_size", "out_time", "speed"):
            totals[key] = value.strip()
        if key == "out_time_us" and expected_duration and value.strip().lstrip("-").isdigit():
            seconds = int(value) / 1_000_000
            # 100 is reported only once ffmpeg exited cleanly; until then (muxing,
            # faststart rewrite) progress stays below it.
            await reporter.report(min(99.9, 100.0 * seconds / expected_duration))

    async def on_stderr_line(line: str) -> None:
        stderr_tail.append(line)
        if len(matched) < 100 and any(pattern in line for pattern in keep_matching):
            matched.append(line)

    async def run_to_exit() -> int:
        assert process.stdout is not None and process.stderr is not None
        await asyncio.gather(
            _read_lines(process.stdout, on_progress_line),
            _read_lines(process.stderr, on_stderr_line),
        )
        return await process.wait()

    started = time.monotonic()
    await reporter.report(0.0, force=True)
    try:
        returncode = await asyncio.wait_for(run_to_exit(), timeout)
    except TimeoutError:
        process.kill_group()
        await _reap(process)
        raise transient("FFMPEG_TIMEOUT", f"ffmpeg ({stage}) did not finish within {timeout:g} s") from None
    except BaseException:  # cancellation (the job was cancelled) or a failing callback
        process.kill_group()
        await _reap(process)
        raise
    finally:
        # Whatever happened, never leave the process running.
        process.kill_group()
        process.close()

    elapsed = time.monotonic() - started
    if returncode != 0:
        raise _failure(returncode, stage, list(stderr_tail))
    await reporter.report(100.0, force=True)
    # One summary line per run, from ffmpeg's last progress report; a job's records reach
    # its task log.
    logger.info("ffmpeg %s finished in %.2fs%s", stage, elapsed, _summary(totals))
    return matched + list(stderr_tail)


def _summary(totals: dict[str, str]) -> str:
    """``": 25 frames, 12.3 kB, 00:00:01.000000 of output, speed 41x"`` from the last
    ``-progress`` values (the parts ffmpeg reported)."""
    parts = []
    if totals.get("frame", "0") not in ("", "0"):
        parts.append(f"{totals['frame']} frames")
    if totals.get("total_size", "").isdigit():
        parts.append(f"{int(totals['total_size']) / 1000:.1f} kB")
    if totals.get("out_time", "")[:1].isdigit():  # "N/A" before the first frame
        parts.append(f"{totals['out_time']} of output")
    if totals.get("speed", "N/A") not in ("", "N/A"):
        parts.append(f"speed {totals['speed']}")
    return f": {', '.join(parts)}" if parts else ""


def _failure(returncode: int, stage: str, stderr_tail: list[str]) -> MediaTasksError:
    reason = _error_reason(stderr_tail)
    logger.warning("ffmpeg %s exited with %s: %s\n%s", stage, returncode, reason, "\n".join(stderr_tail[-20:]))
    if returncode < 0:  # killed by a signal from outside (e.g. the OOM killer): worth a retry
        error = transient("FFMPEG_KILLED", f"ffmpeg ({stage}) was killed by signal {-returncode}")
    elif _memory_limit_bytes and "Cannot allocate memory" in "\n".join(stderr_tail):
        error = MediaTasksError(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "FFMPEG_MEMORY_LIMIT",
            f"ffmpeg ({stage}) needed more than the {_memory_limit_bytes} bytes it may use "
            "(MEDIATASKS_FFMPEG_MAX_MEMORY_BYTES)",
        )
    elif "No space left on device" in "\n".join(stderr_tail):
        error = transient("NO_SPACE", f"ffmpeg ({stage}) ran out of disk space")
    else:
        error = unsupported_media(f"ffmpeg could not process the media ({stage}): {reason}")
    error.metadata.update({"stage": stage, "exit_code": str(returncode)})
    return error


async def run_ffmpeg(
    args: Sequence[str],
    *,
    expected_duration: float | None = None,
    on_progress: ProgressCallback | None = None,
    stage: str = "processing",
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> None:
    """Run ffmpeg with ``args`` (everything after the program name and global options).

    Progress: with ``expected_duration`` (seconds of output), ``on_progress(percent,
    stage)`` is called at most ~4 times a second, from 0 to 100.

    Errors: a non-zero exit raises ``UNSUPPORTED_MEDIA`` with the reason ffmpeg gave
    (e.g. "Invalid data found when processing input"); a timeout kills the process and
    raises the retryable ``FFMPEG_TIMEOUT``. If the awaiting task is cancelled, the
    process group is SIGKILLed and reaped before ``CancelledError`` propagates.
    """
    await run_ffmpeg_capture(
        args,
        expected_duration=expected_duration,
        on_progress=on_progress,
        stage=stage,
        timeout=timeout,
    )


# --------------------------------------------------------------------------- probing


@dataclass(frozen=True)
class MediaInfo:
    """What :func:`probe` learned about a media file.

    ``width``/``height`` are the *displayed* size (rotation metadata applied, as ffmpeg's
    filters see the frames); ``rotation`` is the rotation that was applied, in degrees.
    Fields of a stream kind the file lacks are ``None``.
    """

    duration_seconds: float | None
    width: int | None
    height: int | None
    fps: float | None
    video_codec: str | None
    audio_codec: str | None
    has_video: bool
    has_audio: bool
    sample_rate: int | None
    channels: int | None
    format_name: str
    size_bytes: int
    video_duration_seconds: float | None = None
    rotation: int = 0
    pixel_aspect_ratio: float = 1.0

    @property
    def display_aspect_ratio(self) -> float | None:
        """Width over height as shown, pixel aspect ratio included."""
        if not self.width or not self.height:
            return None
        return self.width * self.pixel_aspect_ratio / self.height

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


# Demux at most this many packets looking for a first decodable frame: keeps probing
# cheap on any file while still proving the streams actually decode.
_PROBE_PACKET_BUDGET = 300


def probe(path: str | os.PathLike[str]) -> MediaInfo:
    """Read a media file's container and stream facts with PyAV, at bounded cost.

    Besides the header, it checks that the file's sample index (when the container has
    one, as MP4/MOV do) does not point past the end of the file, and decodes one frame,
    so truncated or corrupt files fail here with ``UNSUPPORTED_MEDIA`` and a clear reason
    instead of half-way through a job. A playlist or manifest (HLS, concat, DASH, IMF,
    SDP) or a container format outside :data:`INPUT_FORMATS` also fails with
    ``UNSUPPORTED_MEDIA``, before anything it names is opened; only local files are
    read. A missing path raises ``INVALID_INPUT``. Blocking: call it from async code
    with ``asyncio.to_thread``.
    """
    import av  # lazy: PyAV (the optional `media` extra) loads FFmpeg's native libraries

    path = Path(path)
    if not path.is_file():
        raise invalid_input(f"input file not found: {path.name}")
    size = path.stat().st_size
    if size == 0:
        raise unsupported_media(f"{path.name} is empty (0 bytes)")
    refuse_reference_formats(path)  # a clear reason; the format whitelist refuses them too
    try:
        container = av.open(
            str(path.absolute()),
            mode="r",
            container_options={"protocol_whitelist": INPUT_PROTOCOLS, "format_whitelist": INPUT_FORMATS},
            metadata_errors="replace",
        )
    except av.error.ArgumentError as exc:  # EINVAL: mostly a format off the whitelist
        raise unsupported_media(
            f"{path.name} is not readable media in a container format mediatasks accepts: {_av_reason(exc)}"
        ) from None
    except av.error.FFmpegError as exc:
        raise unsupported_media(f"{path.name} is not readable media: {_av_reason(exc)}") from None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise unsupported_media(f"{path.name} is not readable media: {exc}") from None
    with container:
        video = next(iter(container.streams.video), None)
        audio = next(iter(container.streams.audio), None)
        if video is None and audio is None:
            raise unsupported_media(f"{path.name} has no audio or video stream")
        _check_index_within_file(container, size, path.name)
        rotation = _first_frame_rotation(container, video, audio, path.name)

        duration = container.duration / 1_000_000 if container.duration else None
        video_duration = _stream_seconds(video) if video is not None else None
        width = height = None
        fps = None
        pixel_aspect = 1.0
        if video is not None:
            width, height = video.codec_context.width or None, video.codec_context.height or None
            if rotation % 180 == 90 and width and height:
                width, height = height, width
            rate = video.average_rate or video.guessed_rate or video.base_rate
            fps = round(float(rate), 3) if rate else None
            sar = video.sample_aspect_ratio
            if sar and sar.numerator and sar.denominator:
                pixel_aspect = float(sar) if rotation % 180 == 0 else float(1 / Fraction(sar))
        if duration is None:
            duration = video_duration if video_duration is not None else _stream_seconds(audio)
        return MediaInfo(
            duration_seconds=round(duration, 6) if duration is not None else None,
            width=width,
            height=height,
            fps=fps,
            video_codec=video.codec_context.name if video is not None else None,
            audio_codec=audio.codec_context.name if audio is not None else None,
            has_video=video is not None,
            has_audio=audio is not None,
            sample_rate=(audio.codec_context.sample_rate or None) if audio is not None else None,
            channels=(audio.codec_context.channels or None) if audio is not None else None,
            format_name=container.format.name,
            size_bytes=size,
            video_duration_seconds=round(video_duration, 6) if video_duration else None,
            rotation=rotation,
            pixel_aspect_ratio=pixel_aspect,
        )


def _av_reason(exc: BaseException) -> str:
    strerror = getattr(exc, "strerror", None)
    return str(strerror or exc).split(":")[0]


def _stream_seconds(stream: Stream | None) -> float | None:
    if stream is None:
        return None
    duration, time_base = getattr(stream, "duration", None), getattr(stream, "time_base", None)
    if duration is None or time_base is None:
        return None
    return float(duration * time_base)


def _check_index_within_file(container: InputContainer, size: int, name: str) -> None:
    """A container index that points past the end of the file means it was truncated
    (MP4 with ``faststart`` opens fine even when half of its data is missing)."""
    for stream in container.streams:
        entries = stream.index_entries
        if not len(entries):
            continue
        last = entries[len(entries) - 1]
        end = max(last.pos + last.size, entries[0].pos + entries[0].size)
        if end > size:
            raise unsupported_media(f"{name} is truncated: its index needs {end} bytes but the file has {size}")


def _first_frame_rotation(
    container: InputContainer, video: VideoStream | None, audio: AudioStream | None, name: str
) -> int:
    """Decode the first frame of the main stream (bounded) and return its display rotation
    in degrees, clockwise, 0/90/180/270."""
    import av  # lazy: PyAV (the optional `media` extra) loads FFmpeg's native libraries

    stream = video if video is not None else audio
    try:
        for count, packet in enumerate(container.demux(stream)):
            if count >= _PROBE_PACKET_BUDGET:
                break
            for frame in packet.decode():
                if video is None:
                    return 0
                # PyAV reports counter-clockwise degrees; ffmpeg's autorotate undoes them.
                return int(-round(getattr(frame, "rotation", 0) or 0)) % 360
    except av.error.FFmpegError as exc:
        raise unsupported_media(f"{name} could not be decoded: {_av_reason(exc)}") from None
    except (OSError, ValueError) as exc:
        raise unsupported_media(f"{name} could not be decoded: {exc}") from None
    raise unsupported_media(f"{name} has no decodable frames")
