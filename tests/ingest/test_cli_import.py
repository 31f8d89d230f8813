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
        [sys.executable, "-m", "userops", *args],
        capture_output=True,
        text=True,
        env=env,
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
    assert (
        Path(summary["quarantine"]).parent == (tmp_path / "d" / "quarantine").resolve()
        or Path(summary["quarantine"]).exists()
    )
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


def test_each_import_is_recorded_in_the_application_database(tmp_path: Path) -> None:
    from userops.settings import Settings
    from userops.store.db import make_engine, session_scope
    from userops.store.import_runs import list_import_runs

    good = write(tmp_path / "e.csv", "event,user_id,timestamp\nopen,u1,2026-11-01T10:00:00Z\n")
    bad = write(tmp_path / "b.csv", "event,user_id\nopen,u1\n")
    assert userops(tmp_path / "d", "import", "events", str(good)).returncode == 0
    assert userops(tmp_path / "d", "import", "events", str(bad)).returncode == 1
    engine = make_engine(Settings(data_dir=tmp_path / "d").resolved_database_url)
    with session_scope(engine) as session:
        runs = list_import_runs(session)
        seen = sorted((r.status, r.accepted, r.error is None) for r in runs)
    engine.dispose()
    assert seen == [("failed", 0, False), ("succeeded", 1, True)]
