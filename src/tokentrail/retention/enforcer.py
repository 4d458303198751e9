"""`serve`'s retention: a thread that applies the policy at startup and then every `interval_s` seconds."""

from __future__ import annotations

import logging
import threading

from tokentrail.retention.apply import apply_retention
from tokentrail.retention.policy import Policy
from tokentrail.store import Store

log = logging.getLogger(__name__)


class Enforcer:
    def __init__(self, store: Store, policy: Policy) -> None:
        self._store = store
        self._policy = policy
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tokentrail-retention", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def run_once(self) -> None:
        try:
            report = apply_retention(self._store, self._policy, stop=self._stop)
        except Exception:  # a failed run must not end enforcement; the next run tries again
            log.exception("retention run failed")
            return
        if report.rows:
            log.warning("retention deleted %s", ", ".join(f"{n} rows of {t}" for t, n in report.rows.items()))
        for note in report.notes:
            log.warning("retention: %s", note)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self._policy.interval_s)

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
