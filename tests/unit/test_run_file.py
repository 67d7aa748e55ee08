"""The run file `occsim up` leaves for the other commands: the cluster's secret inside, so it is
written whole, readable by its owner only, and never through a link planted in its place."""

from __future__ import annotations

import json
import os
import stat

import pytest

from occsim.cluster.tools.cli import RUN_FILE, main, write_run_file

INFO = {"manager": "127.0.0.1:1234", "secret": "s3cret", "pid": 42}


def mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_a_new_run_file_is_private(tmp_path):
    path = tmp_path / ".occsim-run.json"
    write_run_file(path, INFO)
    assert json.loads(path.read_text()) == INFO
    assert mode(path) == 0o600
    assert os.listdir(tmp_path) == [path.name]  # no temporary file left behind


def test_an_existing_readable_run_file_becomes_private(tmp_path):
    path = tmp_path / ".occsim-run.json"
    path.write_text("old")
    path.chmod(0o644)
    write_run_file(path, INFO)
    assert json.loads(path.read_text()) == INFO
    assert mode(path) == 0o600


def test_a_symlink_in_its_place_is_replaced_not_followed(tmp_path):
    target = tmp_path / "victim"
    target.write_text("keep me")
    path = tmp_path / ".occsim-run.json"
    path.symlink_to(target)
    write_run_file(path, INFO)
    assert target.read_text() == "keep me"
    assert not path.is_symlink()
    assert json.loads(path.read_text()) == INFO
    assert mode(path) == 0o600


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", "\udcff"])
def test_a_damaged_run_file_is_one_line(tmp_path, monkeypatch, content):
    monkeypatch.chdir(tmp_path)
    (tmp_path / RUN_FILE).write_bytes(content.encode("utf-8", "surrogateescape"))
    with pytest.raises(SystemExit) as stop:
        main(["heal"])
    message = str(stop.value.code)
    assert message.startswith("occsim: ") and RUN_FILE in message and "\n" not in message
