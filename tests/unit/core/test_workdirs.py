"""Attempt directories are reused only when the attempt left them empty."""

from __future__ import annotations

import os
import time

from mediatasks.core.worker.runtime import WORKDIR_PREFIX, Workdirs


def test_an_empty_directory_is_reused_and_a_used_one_removed(tmp_path) -> None:
    workdirs = Workdirs(str(tmp_path), keep=2)
    first = workdirs.take()
    assert first.is_dir() and first.parent == tmp_path and first.name.startswith(WORKDIR_PREFIX)
    workdirs.give_back(first)
    assert workdirs.take() == first  # left empty: the next attempt gets it
    (first / "output.srt").write_text("1\n")
    workdirs.give_back(first)
    assert not first.exists()  # an attempt's files never reach the next one
    assert workdirs.take() != first


def test_at_most_keep_directories_wait_and_clear_removes_them(tmp_path) -> None:
    workdirs = Workdirs(str(tmp_path), keep=1)
    one, two = workdirs.take(), workdirs.take()
    workdirs.give_back(one)
    workdirs.give_back(two)
    assert one.exists() and not two.exists()
    workdirs.clear()
    assert list(tmp_path.iterdir()) == []


def test_a_reused_directory_looks_fresh_and_a_vanished_one_is_replaced(tmp_path) -> None:
    workdirs = Workdirs(str(tmp_path), keep=2)
    kept, gone = workdirs.take(), workdirs.take()
    old = time.time() - 3600
    os.utime(kept, (old, old))
    workdirs.give_back(kept)
    workdirs.give_back(gone)
    gone.rmdir()  # removed meanwhile, e.g. as stale by another worker
    again = workdirs.take()  # the vanished one is skipped
    assert again == kept and again.stat().st_mtime > old + 3000  # so it is never taken for stale
    assert workdirs.take() not in (kept, gone)
