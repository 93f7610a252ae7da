import os
import stat

import pytest

from fmnist_spec.files import check_writable_dir, write_json, write_text


def test_atomic_write_replaces_whole_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "metrics.json"
    write_text(target, "old")
    write_json(target, {"accuracy": 0.88})
    assert target.read_text() == '{\n  "accuracy": 0.88\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_written_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644


def test_check_writable_dir_creates_parents_and_names_bad_paths(tmp_path):
    check_writable_dir(tmp_path / "a" / "b")
    assert (tmp_path / "a" / "b").is_dir() and list((tmp_path / "a" / "b").iterdir()) == []
    (tmp_path / "file").write_text("x")
    with pytest.raises(OSError, match="cannot write in"):
        check_writable_dir(tmp_path / "file" / "run")
