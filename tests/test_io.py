"""Atomic outputs: a crash leaves nothing behind, success replaces the target."""

from __future__ import annotations

import pytest

from pqa.io import atomic_path


def test_failed_write_leaves_no_output(tmp_path):
    target = tmp_path / "out"

    with pytest.raises(RuntimeError, match="crash"), atomic_path(target) as staged:
        staged.mkdir()
        (staged / "part.parquet").write_text("half")
        raise RuntimeError("crash")

    assert list(tmp_path.iterdir()) == []


def test_directory_is_replaced_whole(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")

    with atomic_path(target) as staged:
        staged.mkdir()
        (staged / "new.txt").write_text("new")

    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_nothing_written_is_an_error(tmp_path):
    with (
        pytest.raises(FileNotFoundError, match="nothing was written"),
        atomic_path(tmp_path / "f.csv"),
    ):
        pass
