"""The CLI face of import: JSON summary, one-line errors, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .conftest import write


def userops(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "USEROPS_DATA_DIR": str(data_dir), "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "userops", *args], capture_output=True, text=True, env=env,
        timeout=120,
    )


def test_import_json_summary_and_quarantine(tmp_path: Path) -> None:
    f = write(
        tmp_path / "e.csv",
        "message_id,event,user_id,timestamp\nm1,open,u1,2026-11-01T10:00:00Z\nm2,open,u1,bad\n",
    )
    done = userops(tmp_path / "d", "import", "events", str(f), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert set(summary) == {"accepted", "rejected", "duplicates", "quarantine"}
    assert (summary["accepted"], summary["rejected"], summary["duplicates"]) == (1, 1, 0)
    assert Path(summary["quarantine"]).parent == (tmp_path / "d" / "quarantine").resolve() or \
        Path(summary["quarantine"]).exists()
    again = json.loads(userops(tmp_path / "d", "import", "events", str(f), "--json").stdout)
    assert (again["accepted"], again["duplicates"]) == (0, 1)


def test_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    f = write(tmp_path / "e.csv", "event,user_id,timestamp\nopen,u1,bad\n")
    done = userops(tmp_path / "d", "import", "events", str(f), "--strict")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = [x for x in done.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "row 2" in lines[0] and "nothing was imported" in lines[0]
    bad_map = userops(tmp_path / "d", "import", "events", str(f), "--map", "when")
    assert bad_map.returncode == 1 and "expected FIELD=COLUMN" in bad_map.stderr
    debug = userops(tmp_path / "d", "--debug", "import", "events", str(f), "--strict")
    assert debug.returncode == 1 and "Traceback" in debug.stderr
