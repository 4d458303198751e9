"""A replay's state on disk, so an interrupted replay resumes where it stopped.

``<dir>/<id>.json`` holds the replay's options; ``<dir>/<id>.done`` gets one JSON line per finished sample
(its ids, whether the candidate call failed, the output similarity), appended and flushed after the call was
sent to the collector. ``--resume ID`` reads both and skips the samples already done.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from pathlib import Path
from typing import Any

DEFAULT_DIR = ".tokentrail/replays"


class ReplayState:
    def __init__(self, folder: Path, replay_id: str) -> None:
        self.folder, self.id = folder, replay_id
        self._lock = threading.Lock()

    @property
    def options_path(self) -> Path:
        return self.folder / f"{self.id}.json"

    @property
    def done_path(self) -> Path:
        return self.folder / f"{self.id}.done"

    @classmethod
    def start(cls, folder: Path, options: dict[str, Any]) -> ReplayState:
        state = cls(folder, secrets.token_hex(4))
        folder.mkdir(parents=True, exist_ok=True)
        state.options_path.write_text(json.dumps(options, indent=1))
        return state

    def options(self) -> dict[str, Any]:
        if not self.options_path.is_file():
            raise FileNotFoundError(f"no replay {self.id!r} in {self.folder}")
        loaded: dict[str, Any] = json.loads(self.options_path.read_text())
        return loaded

    def done(self) -> dict[str, dict[str, Any]]:
        """Finished samples by 'trace_id:span_id' (a torn last line from a kill is ignored)."""
        if not self.done_path.is_file():
            return {}
        out = {}
        for line in self.done_path.read_text().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            out[entry["sample"]] = entry
        return out

    def mark(self, entry: dict[str, Any]) -> None:
        line = f"\n{json.dumps(entry)}\n"  # the leading newline ends a line torn by a kill
        with self._lock, self.done_path.open("a") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
