"""Script adapters turn user errors into one clear line (no traceback) and log everything."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from latentcf.cli_errors import run_script
from latentcf.errors import InputDataError


def test_user_error_is_one_line_in_log_and_stderr(tmp_path, capsys):
    log = tmp_path / "job.log"

    def main(smk):
        print("working on it")
        raise InputDataError("/data/sub-01_T1w.nii.gz", "expected a 3D image, got 4D (8, 8, 8, 2)")

    with pytest.raises(SystemExit) as info:
        run_script(main, SimpleNamespace(log=[str(log)]))
    assert info.value.code == 1
    text = log.read_text()
    assert "working on it" in text
    assert "ERROR: /data/sub-01_T1w.nii.gz: expected a 3D image, got 4D (8, 8, 8, 2)" in text
    assert "Traceback" not in text
    assert "sub-01_T1w.nii.gz" in capsys.readouterr().err


def test_bugs_keep_their_traceback(tmp_path):
    log = tmp_path / "job.log"

    def main(smk):
        raise ZeroDivisionError("bug")

    with pytest.raises(ZeroDivisionError):
        run_script(main, SimpleNamespace(log=[str(log)]))
    assert "Traceback" in log.read_text()
