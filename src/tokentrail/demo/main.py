"""`run_demo`: collector and simulator up, a week of traffic through the real clients, the report, the
answer to the question, then the dashboard until Ctrl-C (or exit with ``serve=False``)."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import random
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.text import Text

import tokentrail
from tokentrail.demo import processes
from tokentrail.demo.answer import print_answer, print_report
from tokentrail.demo.api import CollectorApi
from tokentrail.demo.ledger import Ledger
from tokentrail.demo.options import HOST, DemoOptions, free_port
from tokentrail.demo.profile import TIME_SCALE, scale_text, write_profile
from tokentrail.demo.providers import Providers
from tokentrail.demo.runner import Runner, RunResult
from tokentrail.demo.scenarios import PlanContext, plan_all
from tokentrail.demo.timeshift import Calendar, TimeShift
from tokentrail.store.span_log import SUFFIX

SERVICE_NAME = "tokentrail-demo"
STORE_TIMEOUT_S = 60.0
FLUSH_TIMEOUT_S = 30.0
PIPED_WIDTH = 160


@dataclasses.dataclass(slots=True)
class Outcome:
    """What a run did (returned to tests)."""

    calls: int = 0
    sessions: int = 0
    failed_sessions: int = 0
    stored: int = 0
    elapsed_s: float = 0.0
    feature: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Running:
    """The helper processes of one run and where to reach them."""

    services: list[processes.Service]
    sim_url: str
    workdir: Path


def run_demo(options: DemoOptions, console: Console | None = None) -> Outcome:
    console = console or Console()
    if not console.is_terminal:  # piped: rich would fold the report's table into 80 columns
        console = Console(file=console.file, width=max(console.width, PIPED_WIDTH))
    began = time.monotonic()
    _intro(options, console)
    with (
        _sigterm_interrupts(),
        tempfile.TemporaryDirectory(prefix="tokentrail-demo-") as tmp,
        _services(options, Path(tmp)) as running,
        _instrumented(options, running.workdir),  # imports the SDKs while the services start
        Providers(running.sim_url, Ledger(), pool_size=options.threads + 4) as providers,
    ):
        processes.wait_all(running.services)
        with contextlib.closing(CollectorApi(options.collector_url)) as api:
            cal = Calendar(dt.datetime.now(dt.UTC), options.days)
            outcome = _generate(options, providers, cal, api, console)
            outcome.elapsed_s = time.monotonic() - began
            _conclude(options, outcome, api, cal, console)
        if options.serve:
            _serve(options, running, console)
    return outcome


def _conclude(
    options: DemoOptions, outcome: Outcome, api: CollectorApi, cal: Calendar, console: Console
) -> None:
    console.print(
        f"[bold]{outcome.calls:,} calls[/] ({outcome.sessions:,} sessions) in "
        f"[bold]{outcome.elapsed_s:.1f} s[/]; the collector stored {outcome.stored:,}. "
        f"Ledger: {escape(str(options.ledger_path))}"
    )
    print_report(console, api, cal)
    answer = print_answer(console, api, cal)
    outcome.feature = answer.feature if answer else None


def _intro(options: DemoOptions, console: Console) -> None:
    what = "replaced (the demo's own file)" if options.replace else "appended to"
    console.print(
        f"[bold]tokentrail demo[/]: store {escape(str(options.db))} {what}; "
        f"collector on {options.collector_url}"
    )
    console.print(
        f"Simulated OpenAI, Anthropic and Bedrock traffic through their official clients; latencies are "
        f"{scale_text(TIME_SCALE)}. Every call keeps its real measured durations; its start time is moved "
        f"into the last {options.days} days (business hours, UTC), so that yesterday and last week exist.",
        highlight=False,
    )


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM stops the demo as Ctrl-C does (the helper processes are stopped, not orphaned)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _services(options: DemoOptions, workdir: Path) -> Iterator[Running]:
    """The collector and the simulator, started (`processes.wait_all` waits for them) and stopped however the
    block ends."""
    if options.replace:
        beside = (Path(f"{options.db}{suffix}") for suffix in (".wal", SUFFIX))
        for path in (options.db, *beside, options.ledger_path):
            path.unlink(missing_ok=True)
    sim_port = free_port()
    services = [processes.start_collector(options.db, options.port, workdir)]
    try:
        services.append(processes.start_simulator(sim_port, write_profile(workdir), options.seed, workdir))
        yield Running(services, f"http://{HOST}:{sim_port}", workdir)
    finally:
        for service in reversed(services):
            service.stop()


@contextlib.contextmanager
def _instrumented(options: DemoOptions, workdir: Path) -> Iterator[None]:
    """tokentrail set up for the demo: spans moved in time, then exported to the collector."""
    tokentrail.configure(
        endpoint=options.collector_url, service_name=SERVICE_NAME, span_processors=[TimeShift()],
        spool_dir=workdir / "spool",  # not the user's spool: leftovers of other runs must not land here
    )  # fmt: skip
    tokentrail.instrument()
    try:
        yield
    finally:
        tokentrail.force_flush(timeout_s=FLUSH_TIMEOUT_S)
        tokentrail.uninstrument()


def _generate(
    options: DemoOptions, providers: Providers, cal: Calendar, api: CollectorApi, console: Console
) -> Outcome:
    """Drive the scenarios, flush, write the ledger and wait until the collector has stored every call."""
    scenarios = plan_all(PlanContext(cal, random.Random(options.seed), options.scale))
    window = (cal.day(cal.days), cal.now + dt.timedelta(hours=1))
    before = api.llm_calls(*window)  # a user's --db may hold calls already
    result = Runner(providers, options.threads, options.seed, console).run(scenarios)
    tokentrail.force_flush(timeout_s=FLUSH_TIMEOUT_S)
    _report_failures(result, console)
    ledger = providers.ledger
    ledger.write(options.ledger_path, _ledger_meta(options, cal, before))
    stored = api.wait_for_calls(*window, before + len(ledger), STORE_TIMEOUT_S) - before
    stats = tokentrail.sdk_stats()
    if stored < len(ledger) or stats["dropped"] or stats["spooled"]:
        told = f"the collector stored {stored} of {len(ledger)} calls; SDK export: {stats}"
        console.print(Text(told, style="yellow"))
    return Outcome(len(ledger), result.sessions, result.failed, stored)


def _report_failures(result: RunResult, console: Console) -> None:
    if result.failed:
        console.print(f"[yellow]{result.failed} of {result.sessions} sessions failed; the first:[/]")
        console.print(result.first_error or "", markup=False, highlight=False)


def _ledger_meta(options: DemoOptions, cal: Calendar, before: int) -> dict[str, object]:
    return {
        "db": str(options.db),
        "now": cal.now.isoformat(),
        "days": options.days,
        "scale": options.scale,
        "seed": options.seed,
        "calls_before": before,
    }


def _serve(options: DemoOptions, running: Running, console: Console) -> None:
    """Keep the collector (and its dashboard) up until Ctrl-C, or until it exits on its own."""
    collector = running.services[0]
    console.print(f"\nDashboard: [bold]{options.collector_url}/[/]   Ctrl-C to stop.")
    console.print(
        f"Later: `tokentrail serve --db {escape(str(options.db))}` serves it again; "
        "`tokentrail report`, `query` and `sql` read the demo's store when no tokentrail.duckdb is here.",
        highlight=False,
    )
    try:
        while collector.process.poll() is None:
            time.sleep(0.5)
        console.print(f"[yellow]the collector exited (code {collector.process.returncode})[/]")
    except KeyboardInterrupt:
        console.print("Stopping the collector and the simulator.")
