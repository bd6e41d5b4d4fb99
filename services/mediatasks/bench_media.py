"""``make bench-media``: word error rate and speed of offline speech to text, Whisper (the
local provider, as jobs run it) beside PocketSphinx, on synthetic speech made here.

The speech is synthesized on the spot from :data:`SENTENCES` with several voices of the
OS packages ``flite`` and ``espeak-ng`` (``deploy/scripts/system-deps.sh`` installs them)
and converted to 16 kHz mono WAV. Each engine transcribes every clip (one sentence, 2-4 s),
then one *passage* per voice (its clips end to end with half a second of silence, about
35 s): clips measure accuracy sentence by sentence, passages the speed of continuous
speech (Whisper decodes 30 s windows, so a 3 s clip costs nearly a window's work). WER is
the word-level edit distance over the reference length, after lowercasing and dropping
punctuation. The real-time factor (RTF) is processing time over audio time; ``x_real_time``
is its inverse. Model loading is timed apart and not counted in either.

Prints one JSON object. Goal (issue 15): Whisper WER <= 0.10 on this clean speech and
>= 10x real time on two cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mediatasks.core.settings import Settings
from mediatasks.media import sphinx
from mediatasks.media.ffmpeg import ffmpeg_exe
from mediatasks.providers.contracts import TranscriptionRequest
from mediatasks.providers.vendors.whisper_provider import WhisperProvider, cpu_threads, load_model

# Everyday sentences, each a few seconds long: the kind of speech a transcription or
# subtitle job gets, without numbers or names whose spelling a reference could dispute.
SENTENCES = (
    "The weather will be sunny and warm for the rest of the week.",
    "She left her keys on the kitchen table this morning.",
    "Our flight was delayed because of the heavy snow.",
    "Could you send me the report before the meeting starts?",
    "The library closes early on Sunday afternoons.",
    "He bought fresh bread and cheese at the market.",
    "We need to finish the project by the end of the month.",
    "The children walked to school along the river.",
    "Turn left at the next corner and park near the bank.",
    "My brother plays the guitar in a small band.",
)
# engine:voice. flite's rms, slt and awb are 16 kHz clustergen/diphone voices, kal an 8 kHz
# diphone voice; espeak-ng's formant voices are the least natural of all.
VOICES = ("flite:rms", "flite:slt", "flite:awb", "flite:kal", "espeak-ng:en-us", "espeak-ng:en-gb")
SAMPLE_RATE = 16_000
PASSAGE_GAP_SECONDS = 0.5
GOAL_WER = 0.10
GOAL_X_REAL_TIME = 10.0
_WORD = re.compile(r"[a-z0-9']+")


def words_of(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("’", "'"))


def edit_distance(reference: list[str], hypothesis: list[str]) -> int:
    row = list(range(len(hypothesis) + 1))
    for i, ref_word in enumerate(reference, start=1):
        previous, row[0] = row[0], i
        for j, hyp_word in enumerate(hypothesis, start=1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (ref_word != hyp_word))
    return row[len(hypothesis)]


@dataclass
class Clip:
    voice: str
    text: str
    path: Path
    seconds: float


# --- speech ----------------------------------------------------------------------------------


def check_synthesizers(voices: list[str]) -> None:
    missing = sorted(
        {voice.split(":", 1)[0] for voice in voices} - {n for n in ("flite", "espeak-ng") if shutil.which(n)}
    )
    if missing:
        raise SystemExit(
            f"bench-media needs {' and '.join(missing)} (Debian packages; bash deploy/scripts/system-deps.sh installs them)"
        )


def synthesize(voice: str, text: str, target: Path) -> Clip:
    """One sentence in one voice, as 16 kHz mono 16-bit WAV."""
    engine, name = voice.split(":", 1)
    raw = target.with_suffix(".raw.wav")
    if engine == "flite":
        command = ["flite", "-voice", name, "-t", text, "-o", str(raw)]
    elif engine == "espeak-ng":
        command = ["espeak-ng", "-v", name, "-w", str(raw), text]
    else:
        raise SystemExit(f"unknown synthesizer {engine!r} in voice {voice!r} (flite:NAME or espeak-ng:NAME)")
    subprocess.run(command, check=True, capture_output=True, timeout=60)
    subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-i", str(raw), "-ac", "1", "-ar", str(SAMPLE_RATE),
         "-c:a", "pcm_s16le", "-map_metadata", "-1", str(target)],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    raw.unlink()
    return Clip(voice, text, target, wav_seconds(target))


def wav_seconds(path: Path) -> float:
    with wave.open(str(path)) as wav:
        return wav.getnframes() / wav.getframerate()


def passage(clips: list[Clip], target: Path) -> Clip:
    """The clips end to end, half a second of silence after each."""
    gap = b"\0\0" * int(PASSAGE_GAP_SECONDS * SAMPLE_RATE)
    with wave.open(str(target), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        for clip in clips:
            with wave.open(str(clip.path)) as wav:
                out.writeframes(wav.readframes(wav.getnframes()) + gap)
    return Clip(clips[0].voice, " ".join(c.text for c in clips), target, wav_seconds(target))


# --- engines -------------------------------------------------------------------------------------

Transcribe = Callable[[Path], Awaitable[str]]


async def measure(transcribe: Transcribe, clips: list[Clip]) -> dict[str, Any]:
    """WER and speed of one engine over ``clips``, overall and per voice."""
    errors = reference_words = 0
    processing = audio = 0.0
    by_voice: dict[str, list[float]] = {}
    worst: list[dict[str, Any]] = []
    for clip in clips:
        started = time.perf_counter()
        heard = await transcribe(clip.path)
        elapsed = time.perf_counter() - started
        reference = words_of(clip.text)
        wrong = edit_distance(reference, words_of(heard))
        errors += wrong
        reference_words += len(reference)
        processing += elapsed
        audio += clip.seconds
        tally = by_voice.setdefault(clip.voice, [0, 0, 0.0, 0.0])
        tally[0] += wrong
        tally[1] += len(reference)
        tally[2] += elapsed
        tally[3] += clip.seconds
        if wrong:
            worst.append({"voice": clip.voice, "wer": round(wrong / len(reference), 3), "heard": heard})
    worst.sort(key=lambda item: -item["wer"])
    return {
        "wer": round(errors / max(reference_words, 1), 4),
        "rtf": round(processing / audio, 4),
        "x_real_time": round(audio / processing, 1),
        "audio_seconds": round(audio, 1),
        "processing_seconds": round(processing, 2),
        "by_voice": {
            voice: {"wer": round(e / max(n, 1), 4), "x_real_time": round(a / p, 1)}
            for voice, (e, n, p, a) in by_voice.items()
        },
        "worst": worst[:5],
    }


async def run(voices: list[str], sentence_count: int, threads: int, pocketsphinx: bool) -> dict[str, Any]:
    check_synthesizers(voices)
    sentences = SENTENCES[:sentence_count]
    settings = Settings(whisper_cpu_threads=threads)
    whisper = WhisperProvider(settings)
    if whisper.model_info.problem:
        raise SystemExit(f"no Whisper model: {whisper.model_info.problem}")
    with tempfile.TemporaryDirectory(prefix="bench-media-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        clips: list[Clip] = []
        passages: list[Clip] = []
        for v, voice in enumerate(voices):
            mine = [synthesize(voice, text, work / f"v{v}_s{s}.wav") for s, text in enumerate(sentences)]
            clips += mine
            passages.append(passage(mine, work / f"v{v}_passage.wav"))
        synthesis_seconds = time.perf_counter() - started

        assert whisper.model_info.path is not None
        started = time.perf_counter()
        await asyncio.to_thread(
            load_model, whisper.model_info.path, settings.whisper_compute_type, cpu_threads(settings)
        )
        load_seconds = time.perf_counter() - started

        async def with_whisper(path: Path) -> str:
            result = await whisper.transcribe(TranscriptionRequest(str(path), language="en"))
            return result.text

        async def with_pocketsphinx(path: Path) -> str:
            transcript = await sphinx.transcribe(path, timeout=600.0)
            return transcript.text

        engines: dict[str, Any] = {
            "whisper": {
                "model": whisper.model_name,
                "model_path": str(whisper.model_info.path),
                "compute_type": settings.whisper_compute_type,
                "beam_size": settings.whisper_beam_size,
                "vad_filter": settings.whisper_vad_filter,
                "load_seconds": round(load_seconds, 2),
                "clips": await measure(with_whisper, clips),
                "passages": await measure(with_whisper, passages),
            }
        }
        if pocketsphinx:
            engines["pocketsphinx"] = {
                "model": "pocketsphinx-en-us",
                "clips": await measure(with_pocketsphinx, clips),
                "passages": await measure(with_pocketsphinx, passages),
            }
    whisper_result = engines["whisper"]
    return {
        "machine": {"cpus": os.cpu_count(), "threads": threads},
        "speech": {
            "voices": voices,
            "sentences": len(sentences),
            "clips": len(clips),
            "clip_audio_seconds": round(sum(c.seconds for c in clips), 1),
            "passage_audio_seconds": round(sum(p.seconds for p in passages), 1),
            "synthesis_seconds": round(synthesis_seconds, 2),
        },
        "engines": engines,
        "goal": {
            "wer_at_most": GOAL_WER,
            "x_real_time_at_least": GOAL_X_REAL_TIME,
            "whisper_wer_met": whisper_result["clips"]["wer"] <= GOAL_WER,
            "whisper_speed_met": whisper_result["passages"]["x_real_time"] >= GOAL_X_REAL_TIME,
        },
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--voices", default=",".join(VOICES), help="comma-separated engine:voice list")
    parser.add_argument("--sentences", type=int, default=len(SENTENCES), help=f"1 to {len(SENTENCES)}")
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1), help="CPU threads for Whisper")
    parser.add_argument("--no-pocketsphinx", action="store_true", help="measure Whisper only")
    args = parser.parse_args(argv)
    voices = [v.strip() for v in args.voices.split(",") if v.strip()]
    if not voices or not 1 <= args.sentences <= len(SENTENCES):
        parser.error(f"give at least one voice and 1 to {len(SENTENCES)} sentences")
    report = asyncio.run(run(voices, args.sentences, args.threads, not args.no_pocketsphinx))
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
