"""Inputs that are playlists or manifests are recognised from their bytes, whatever their name."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.media import make_image, make_tone, make_video
from mediatasks.core.errors import MediaTasksError
from mediatasks.core.inputs import reference_format, refuse_reference_formats

MPD = (
    '<?xml version="1.0"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" '
    'profiles="urn:mpeg:dash:profile:isoff-on-demand:2011"><Period><AdaptationSet>'
    "<Representation><BaseURL>http://169.254.169.254/latest</BaseURL></Representation>"
    "</AdaptationSet></Period></MPD>\n"
)


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (b"#EXTM3U\n#EXTINF:10,\nfile:///etc/passwd\n", "HLS/M3U playlist"),
        (b"\xef\xbb\xbf\r\n  #extm3u\r\n#EXT-X-STREAM-INF:BANDWIDTH=1\r\nhttp://10.0.0.1/a.m3u8\r\n", "HLS/M3U"),
        (b"ffconcat version 1.0\nfile '/etc/passwd'\n", "concat list"),
        (MPD.encode(), "DASH manifest"),
        (b'<?xml version="1.0"?><CompositionPlaylist xmlns="http://www.smpte-ra.org/schemas/2067-3/2016">', "IMF"),
        (b"v=0\r\no=- 0 0 IN IP4 10.0.0.1\r\ns=x\r\nc=IN IP4 10.0.0.1\r\nm=video 5004 RTP/AVP 96\r\n", "SDP"),
    ],
)
def test_playlists_and_manifests_are_recognised(tmp_path: Path, content: bytes, kind: str) -> None:
    path = tmp_path / "input_video"
    path.write_bytes(content)
    assert kind in (reference_format(path) or "")
    with pytest.raises(MediaTasksError) as refused:
        refuse_reference_formats(path)
    assert refused.value.reason == "UNSUPPORTED_MEDIA"
    assert "input_video" in refused.value.message and kind in refused.value.message


@pytest.mark.parametrize(
    "content",
    [
        b"1\n00:00:01,000 --> 00:00:02,000\nThe #EXTM3U header, ffconcat and <MPD> in a cue\n",
        b"WEBVTT\n\n00:01.000 --> 00:02.000\nhello\n",
        b"[Script Info]\nScriptType: v4.00+\n",
        b"",
        # Past a NUL byte ffmpeg's probes (C strings) stop reading, and so does the check.
        b"\x00\x00\x00\x20ftypisom" + MPD.encode(),
    ],
)
def test_other_text_and_binary_is_not_taken_for_a_playlist(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "input"
    path.write_bytes(content)
    assert reference_format(path) is None
    refuse_reference_formats(path)


@pytest.mark.parametrize(
    "make",
    [
        lambda d: make_video(d / "v.mp4", 1, (64, 48)),
        lambda d: make_tone(d / "t.wav", 0.5),
        lambda d: make_tone(d / "t.mp3", 0.5),
        lambda d: make_image(d / "i.png"),
        lambda d: make_image(d / "i.jpg"),
    ],
)
def test_real_media_is_not_taken_for_a_playlist(tmp_path: Path, make) -> None:
    assert reference_format(make(tmp_path)) is None
