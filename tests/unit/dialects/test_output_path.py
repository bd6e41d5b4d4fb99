"""Seed 002's path, as the native video requests check it: a plain relative folder."""

from __future__ import annotations

import pytest
from mediatasks.core.errors import MediaTasksError
from mediatasks.video.servicer import check_output_path


@pytest.mark.parametrize("path", ["", "videos/output", "videos/output/", "a.b_c-d/2026", "x" * 200])
def test_plain_relative_folders_pass(path):
    check_output_path(path)


@pytest.mark.parametrize("path", ["/abs", "..", "a/../b", "./a", "a//b", "a b", "a\\b", "ç", "x" * 201, "a/%2e%2e"])
def test_anything_else_is_refused_naming_path(path):
    with pytest.raises(MediaTasksError) as caught:
        check_output_path(path)
    assert caught.value.reason == "INVALID_INPUT" and caught.value.metadata == {"field": "path"}
