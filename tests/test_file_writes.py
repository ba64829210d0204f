"""write_atomically: a user's file is whole or untouched, whatever interrupts the write."""

import os
import stat

import pytest

from tvm_tensorrt.file_writes import write_atomically


def test_replaces_whole_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "out.json"
    path.write_bytes(b"old")
    write_atomically(str(path), b"new contents")
    assert path.read_bytes() == b"new contents"
    assert os.listdir(tmp_path) == ["out.json"]


def test_an_interrupted_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "out.json"
    path.write_bytes(b"old")

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomically(str(path), b"new")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.json"]


def test_private_files_are_owner_only_and_others_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        write_atomically(str(tmp_path / "plan"), b"x", private=True)
        write_atomically(str(tmp_path / "meta"), b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "plan").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "meta").st_mode) == 0o644


def test_a_link_at_the_name_is_replaced_not_written_through(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_bytes(b"keep me")
    link = tmp_path / "out.plan"
    link.symlink_to(target)
    write_atomically(str(link), b"plan", private=True)
    assert target.read_bytes() == b"keep me"
    assert not link.is_symlink() and link.read_bytes() == b"plan"
