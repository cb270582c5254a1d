"""Output folders are replaced whole or not at all (gwtl.pipeline.atomic)."""

import pytest

from gwtl.pipeline.atomic import atomic_folder


def test_a_failed_write_keeps_the_old_folder_and_leaves_nothing(tmp_path):
    out = tmp_path / "models"
    with atomic_folder(out) as tmp:
        (tmp / "a.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_folder(out) as tmp:
        (tmp / "a.txt").write_text("half")
        raise RuntimeError("killed half way")
    assert (out / "a.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["models"]


def test_the_next_write_removes_what_a_killed_write_left(tmp_path):
    out = tmp_path / "models"
    stale = tmp_path / ".models.x1y2.tmp"  # what SIGKILL leaves: the finally block never ran
    (stale / "well").mkdir(parents=True)
    other = tmp_path / ".modelsextra.x1y2.tmp"  # another output's temporary folder is not touched
    other.mkdir()
    with atomic_folder(out) as tmp:
        (tmp / "a.txt").write_text("new")
    assert not stale.exists() and other.exists() and (out / "a.txt").read_text() == "new"


def test_a_file_is_replaced_whole_keeping_its_mode_or_not_at_all(tmp_path):
    from gwtl.pipeline.atomic import atomic_file, write_text

    out = tmp_path / "sub" / "metrics.json"
    assert write_text(out, "old\r\n") == out and out.read_bytes() == b"old\r\n"
    out.chmod(0o640)
    with pytest.raises(RuntimeError), atomic_file(out) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed half way")
    assert out.read_bytes() == b"old\r\n" and [p.name for p in out.parent.iterdir()] == ["metrics.json"]
    write_text(out, "new ä\n")
    assert out.read_bytes() == "new ä\n".encode() and out.stat().st_mode & 0o777 == 0o640
