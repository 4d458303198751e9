"""Running the scenarios' sessions on a thread pool, with one progress bar per scenario.

Labels are set in the submitting thread and carried to the worker by ``tokentrail.propagate`` (a worker
thread starts with an empty context); the worker then moves the session into its start time (`shifted`).
"""

from __future__ import annotations

import dataclasses
import functools
import random
import threading
import traceback
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

import tokentrail
from tokentrail.demo.ledger import in_scenario, labelled
from tokentrail.demo.providers import Providers
from tokentrail.demo.scenarios import Scenario, Session
from tokentrail.demo.timeshift import shifted


@dataclasses.dataclass(slots=True)
class RunResult:
    sessions: int = 0
    failed: int = 0
    first_error: str | None = None


def run_session(providers: Providers, session: Session, rng: random.Random) -> None:
    with shifted(session.start):
        session.run(providers, rng)


SLOW_SPREAD = 0.6  # slow sessions are queued in the first 60 % of the run


def interleaved(scenarios: Sequence[Scenario], rng: random.Random) -> list[tuple[Scenario, Session]]:
    """Every session, shuffled so that all scenarios advance together; slow ones early (a short tail)."""
    jobs = [(scenario, session) for scenario in scenarios for session in scenario.sessions]
    keys = [rng.random() * (SLOW_SPREAD if session.slow else 1.0) for _, session in jobs]
    return [job for _, job in sorted(zip(keys, jobs, strict=True), key=lambda pair: pair[0])]


def progress_bars(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description:<34}", style="bold"),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        TextColumn("sessions, {task.fields[calls]:>4} calls"),
        TimeElapsedColumn(),
        console=console,
    )


class Runner:
    def __init__(self, providers: Providers, threads: int, seed: int, console: Console) -> None:
        self.providers = providers
        self.threads = threads
        self.seed = seed
        self.console = console
        self.result = RunResult()
        self._lock = threading.Lock()

    def run(self, scenarios: Sequence[Scenario]) -> RunResult:
        jobs = interleaved(scenarios, random.Random(self.seed))
        with progress_bars(self.console) as progress, ThreadPoolExecutor(self.threads, "demo") as pool:
            tasks = {s.key: progress.add_task(s.title, total=len(s.sessions), calls=0) for s in scenarios}
            try:
                for i, (scenario, session) in enumerate(jobs):
                    future = self._submit(pool, scenario, session, random.Random(self.seed * 1_000_003 + i))
                    future.add_done_callback(
                        functools.partial(self._done, progress, tasks[scenario.key], scenario.key)
                    )
                pool.shutdown(wait=True)
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
        return self.result

    def _submit(
        self, pool: ThreadPoolExecutor, scenario: Scenario, session: Session, rng: random.Random
    ) -> Future[None]:
        with in_scenario(scenario.key), labelled(**scenario.labels, **session.labels):
            work = tokentrail.propagate(run_session)
        return pool.submit(work, self.providers, session, rng)

    def _done(self, progress: Progress, task: TaskID, key: str, future: Future[None]) -> None:
        exc = None if future.cancelled() else future.exception()
        with self._lock:
            self.result.sessions += 1
            if exc is not None:
                self.result.failed += 1
                if self.result.first_error is None:
                    self.result.first_error = "".join(traceback.format_exception(exc)).strip()
        calls = self.providers.ledger.per_scenario()[key]
        progress.update(task, advance=1, calls=calls)
