"""The one atomic write: text or bytes, renamed into place, nothing left behind on failure."""

import pytest

from kerascv_suite.core.runs import write_atomic


def test_write_atomic_writes_text_and_bytes_and_creates_folders(tmp_path):
    write_atomic(tmp_path / "a" / "b.json", '{"x": 1}')
    write_atomic(tmp_path / "model.tflite", b"\x00\x01TFL3")
    assert (tmp_path / "a" / "b.json").read_text() == '{"x": 1}'
    assert (tmp_path / "model.tflite").read_bytes() == b"\x00\x01TFL3"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "model.tflite"]  # no temporary files left


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "metrics.json"
    write_atomic(path, "old")
    with pytest.raises(TypeError):
        write_atomic(path, 3)  # neither text nor bytes: fails while writing
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["metrics.json"]
