"""Word times every engine's transcript is normalised to: in order, within the media."""

from __future__ import annotations

from mediatasks.media.transcript import Word, ordered_words


def test_words_keep_their_order_and_never_overlap_or_pass_the_end() -> None:
    words = [
        Word("Hello", -0.02, 0.41, 0.9),
        Word("there,", 0.39, 0.80, 1.2),  # overlaps the previous word; confidence over 1
        Word("friend.", 0.79, 2.75, -0.1),  # runs past the 2.5 s of media
        Word("Bye.", 2.9, 3.1, 0.5),  # after the end altogether
    ]
    fixed = ordered_words(words, end=2.5)
    assert [w.text for w in fixed] == ["Hello", "there,", "friend.", "Bye."]
    assert [(w.start, w.end) for w in fixed] == [(0.0, 0.41), (0.41, 0.8), (0.8, 2.5), (2.5, 2.5)]
    assert [w.confidence for w in fixed] == [0.9, 1.0, 0.0, 0.5]
    assert words[1].start == 0.39, "the input is not changed"


def test_without_an_end_only_order_is_enforced() -> None:
    fixed = ordered_words([Word("a", 1.0, 0.5), Word("b", 0.2, 9.123456)])
    assert [(w.start, w.end) for w in fixed] == [(1.0, 1.0), (1.0, 9.123)]
