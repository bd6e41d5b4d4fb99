"""Cue building (plain text and word timings), rendering and parsing of SRT/VTT/ASS."""

from __future__ import annotations

import pysubs2
import pytest
from mediatasks.core.errors import MediaTasksError
from mediatasks.media.cues import (
    Cue,
    CueRules,
    content_type,
    cues_from_text,
    cues_from_words,
    parse,
    render,
)
from mediatasks.media.sphinx import Word

STORY = (
    "The old lighthouse keeper climbed the spiral stairs every evening, just before sunset. "
    "He had done this for forty years without missing a single night, even when storms "
    "shook the tower and the rain came sideways off the grey and restless sea. "
    "Nobody in the village remembered who had kept the light before him. "
    "Was it his father? Perhaps. "
    "Some said the lamp had never once gone dark since the day the tower was built, and "
    "that ships from distant harbours steered by it without ever knowing his name.\n\n"
    "One winter a letter arrived. It was short, polite and final: the light would be "
    "automated in the spring, and his services would no longer be required."
)
FORMATS = ("srt", "vtt", "ass")
EPSILON = 1e-6


def words_of(text: str) -> list[str]:
    return text.split()


def assert_follow_rules(cues: list[Cue], rules: CueRules) -> None:
    assert cues, "no cues"
    for cue in cues:
        lines = cue.text.split("\n")
        assert len(lines) <= rules.max_lines, cue
        for line in lines:
            assert line == line.strip() and line, cue
            assert len(line) <= rules.max_chars_per_line or " " not in line, cue
        assert cue.end - cue.start >= rules.min_duration - EPSILON, cue
        assert cue.end - cue.start <= rules.max_duration + EPSILON, cue
    for before, after in zip(cues, cues[1:], strict=False):
        assert after.start >= before.end + rules.gap - EPSILON, (before, after)


@pytest.mark.parametrize(
    "rules",
    [
        CueRules(),
        CueRules(max_chars_per_line=32, max_lines=1, words_per_minute=200.0),
        CueRules(max_chars_per_line=20, max_lines=3, min_duration=1.5, max_duration=4.0),
    ],
)
def test_text_cues_follow_the_rules_and_keep_every_word(rules: CueRules) -> None:
    cues = cues_from_text(STORY, rules, start=2.5)
    assert_follow_rules(cues, rules)
    assert cues[0].start == pytest.approx(2.5)
    assert words_of(" ".join(c.text for c in cues)) == words_of(STORY)


def test_text_cue_duration_follows_reading_speed() -> None:
    rules = CueRules()
    for cue in cues_from_text(STORY, rules):
        n_words = len(cue.text.split())
        expected = rules.per_cue_seconds + n_words * 60.0 / rules.words_per_minute
        expected = min(max(expected, rules.min_duration), rules.max_duration)
        assert cue.end - cue.start == pytest.approx(expected, abs=0.011), cue


def test_sentences_never_share_a_cue_and_short_ones_stay_whole() -> None:
    cues = cues_from_text("Was it his father? Perhaps. Yes, e.g. his uncle did it.")
    assert [c.text for c in cues] == [
        "Was it his father?",
        "Perhaps.",
        "Yes, e.g. his uncle did it.",
    ]


def test_two_line_cues_are_balanced() -> None:
    text = (
        "the quick brown fox jumps over the lazy dog and then runs all the way back home "
        "across the wide green valley before the sun goes down behind the hills"
    )
    cues = cues_from_text(text)
    longest_word = max(len(w) for w in text.split())
    two_line = [c for c in cues if "\n" in c.text]
    assert two_line
    for cue in two_line:
        first, second = cue.text.split("\n")
        assert abs(len(first) - len(second)) <= longest_word + 1, cue.text


def test_a_word_longer_than_a_line_is_kept_whole() -> None:
    word = "Pneumonoultramicroscopicsilicovolcanoconiosis-like"
    cues = cues_from_text(f"He said {word} twice.")
    assert word in " ".join(c.text for c in cues).split()


@pytest.mark.parametrize("text", ["", "   \n\t  "])
def test_empty_text_is_invalid_input(text: str) -> None:
    with pytest.raises(MediaTasksError) as caught:
        cues_from_text(text)
    assert caught.value.reason == "INVALID_INPUT"


@pytest.mark.parametrize(
    "kwargs",
    [{"max_chars_per_line": 3}, {"min_duration": 5.0, "max_duration": 2.0}, {"gap": -1.0}],
)
def test_impossible_rules_are_invalid_input(kwargs: dict) -> None:
    with pytest.raises(MediaTasksError) as caught:
        CueRules(**kwargs)
    assert caught.value.reason == "INVALID_INPUT"


def timed_words(text: str, *, word_seconds: float, pauses: dict[int, float]) -> list[Word]:
    """Words spoken back to back, with a silence before the word indices in ``pauses``."""
    words, at = [], 0.4
    for index, token in enumerate(text.split()):
        at += pauses.get(index, 0.0)
        words.append(Word(token, round(at, 3), round(at + word_seconds, 3), 0.9))
        at += word_seconds
    return words


@pytest.mark.parametrize("word_seconds", [0.15, 0.3, 0.9])  # 400, 200, 67 wpm
def test_word_cues_follow_the_rules_and_the_speech(word_seconds: float) -> None:
    rules = CueRules()
    text = STORY.replace("\n", " ")
    pauses = {12: 1.2, 40: 0.7, 41: 2.5, 77: 0.65}
    words = timed_words(text, word_seconds=word_seconds, pauses=pauses)
    cues = cues_from_words(words, rules)
    assert_follow_rules(cues, rules)
    assert words_of(" ".join(c.text for c in cues)) == words_of(text)
    # A cue never shows before its first word and lags only when the previous cue needed
    # its minimum duration; it lasts while its words are spoken; pauses always split cues.
    position = 0
    previous_end = None
    for cue in cues:
        n_words = len(cue.text.split())
        first, last = words[position], words[position + n_words - 1]
        assert first.start - 0.006 <= cue.start <= first.start + rules.min_duration
        earliest = first.start if previous_end is None else max(first.start, previous_end + rules.gap)
        assert cue.start <= earliest + 0.006, cue
        assert cue.end <= max(last.end, cue.start + rules.min_duration) + 0.006, cue
        # It lasts until its last word ends, less the gap when the next cue follows at once.
        assert cue.end >= min(last.end, cue.start + rules.max_duration) - rules.gap - 0.006, cue
        for index in range(position + 1, position + n_words):
            assert index not in pauses, f"cue {cue.text!r} spans a pause"
        position += n_words
        previous_end = cue.end


def test_word_cues_split_at_sentence_ends() -> None:
    words = timed_words("It is raining again. We should stay inside.", word_seconds=0.3, pauses={})
    cues = cues_from_words(words)
    assert [c.text for c in cues] == ["It is raining again.", "We should stay inside."]
    assert_follow_rules(cues, CueRules())


def test_quick_short_sentences_share_a_cue_instead_of_drifting() -> None:
    words = timed_words("Yes. No. Maybe later, then. Fine.", word_seconds=0.25, pauses={5: 1.0})
    cues = cues_from_words(words)
    assert [c.text for c in cues] == ["Yes. No. Maybe later, then.", "Fine."]
    assert cues[1].start == pytest.approx(words[5].start)
    assert_follow_rules(cues, CueRules())


def test_no_words_give_no_cues() -> None:
    assert cues_from_words([]) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_render_parses_back_identically(fmt: str) -> None:
    cues = cues_from_text(STORY, start=0.73)
    document = render(cues, fmt)
    third_party = pysubs2.SSAFile.from_string(document)
    assert third_party.format == fmt
    assert len(third_party) == len(cues)
    assert [e.plaintext for e in third_party] == [c.text for c in cues]
    parsed = parse(document)
    assert [(c.start, c.end, c.text) for c in parsed] == [
        (pytest.approx(c.start), pytest.approx(c.end), c.text) for c in cues
    ]
    assert parse(document, fmt) == parsed


def test_ass_has_a_default_style_that_can_be_overridden() -> None:
    cues = [Cue(0.5, 2.0, "Hello\nthere"), Cue(2.2, 3.0, "again")]
    default = pysubs2.SSAFile.from_string(render(cues, "ass"))
    assert default.info["PlayResY"] == "1080"
    assert default.styles["Default"].fontsize >= 40
    assert default.styles["Default"].outline > 0
    styled = pysubs2.SSAFile.from_string(
        render(cues, "ass", style={"fontsize": 30, "primarycolor": "#FFFF00", "marginv": 20})
    )
    style = styled.styles["Default"]
    assert style.fontsize == 30 and style.marginv == 20
    assert (style.primarycolor.r, style.primarycolor.g, style.primarycolor.b) == (255, 255, 0)
    assert style.primarycolor.a == 0
    assert styled.events[0].text == "Hello\\Nthere"


@pytest.mark.parametrize("style", [{"font_size": 3}, {"fontsize": "big"}, {"primarycolor": "red"}])
def test_bad_styles_are_invalid_input(style: dict) -> None:
    with pytest.raises(MediaTasksError) as caught:
        render([Cue(0, 1, "x")], "ass", style=style)
    assert caught.value.reason == "INVALID_INPUT"


def test_render_refuses_bad_cues_and_formats() -> None:
    for cues, fmt in [([Cue(2.0, 1.0, "backwards")], "srt"), ([Cue(0, 1, "x")], "docx")]:
        with pytest.raises(MediaTasksError) as caught:
            render(cues, fmt)
        assert caught.value.reason == "INVALID_INPUT"


def test_parse_reads_styled_vtt_and_ssa() -> None:
    vtt = (
        "WEBVTT\n\nNOTE a comment\n\n00:00:01.000 --> 00:00:02.500\n<i>Hello</i> there\n"
        "second line\n\n00:00:03.000 --> 00:00:04.000\nBye\n"
    )
    assert parse(vtt) == [Cue(1.0, 2.5, "Hello there\nsecond line"), Cue(3.0, 4.0, "Bye")]
    ssa = render([Cue(0.2, 1.5, "one"), Cue(1.6, 2.5, "two")], "ass").replace(
        "Dialogue: 0,0:00:01.60", "Comment: 0,0:00:01.60"
    )
    assert parse(ssa, "ssa") == [Cue(0.2, 1.5, "one")]


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        ("just some words, no cues at all", None),
        ("\x00\x01\x02garbage\xff", None),
        ("garbage", "srt"),
        ("WEBVTT\n\n", None),
        ("", None),
    ],
)
def test_parse_garbage_is_invalid_input(text: str, fmt: str | None) -> None:
    with pytest.raises(MediaTasksError) as caught:
        parse(text, fmt)
    assert caught.value.reason == "INVALID_INPUT"


def test_content_types() -> None:
    assert content_type("srt") == "application/x-subrip"
    assert content_type("vtt").startswith("text/vtt")
    assert content_type("ASS").startswith("text/x-ssa")
    with pytest.raises(MediaTasksError):
        content_type("pdf")


def test_render_writes_cues_in_start_order() -> None:
    document = render([Cue(2.0, 3.0, "second"), Cue(0.5, 1.5, "first")], "srt")
    assert [c.text for c in parse(document)] == ["first", "second"]
