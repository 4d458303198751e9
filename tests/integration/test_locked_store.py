"""Opening a DuckDB file that a running `tokentrail serve` holds fails clearly and says what to do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support import collector_process


def test_report_on_a_file_held_by_serve(tmp_path: Path) -> None:
    db = tmp_path / "held.duckdb"
    with collector_process(db, "--workers", "0"):
        out = subprocess.run(
            [sys.executable, "-m", "tokentrail", "report", "--db", str(db)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert out.returncode == 2
    assert "cannot open store" in out.stderr and "running `tokentrail serve`" in out.stderr
