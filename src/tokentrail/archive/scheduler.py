"""`serve`'s archiving: a thread that archives the samples at startup and then every `interval_s` seconds."""

from __future__ import annotations

import logging
import threading

from tokentrail.archive.target import open_target
from tokentrail.archive.writer import archive
from tokentrail.store import Store

log = logging.getLogger(__name__)


class Archiver:
    def __init__(self, store: Store, location: str, interval_s: float) -> None:
        self._store, self._location, self._interval_s = store, location, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tokentrail-archive", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def run_once(self) -> None:
        try:
            report = archive(self._store, open_target(self._location))
        except Exception:  # a failed run must not end archiving; the next run tries again
            log.exception("archive run failed")
            return
        if report.written:
            log.warning("archived %d samples to %s", sum(report.written.values()), self._location)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self._interval_s)

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
