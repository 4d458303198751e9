"""`tokentrail replay`: re-send archived samples to another model or provider, and compare (an experiment)."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.progress import Progress
from rich.table import Table

from tokentrail.cli.common import console, fail
from tokentrail.cli.options import SamplesSince
from tokentrail.replay.collector import Collector
from tokentrail.replay.compare import baseline_calls, candidate_calls, compare
from tokentrail.replay.prompts import Chosen, parse_ref
from tokentrail.replay.requests import PROVIDERS
from tokentrail.replay.runner import Options, Replayer, key, pick
from tokentrail.replay.state import DEFAULT_DIR, ReplayState

LABELS = {
    "cost_usd": "cost per call (USD)",
    "duration_ms": "latency (ms)",
    "ttft_ms": "TTFT (ms)",
    "output_tokens": "output tokens",
    "error_rate": "error rate",
}


def _server() -> str:
    return os.environ.get("TOKENTRAIL_ENDPOINT", "http://127.0.0.1:4318").rstrip("/")


def _checked(options: Options) -> Options:
    if not options.source:
        fail("say which archive to replay: --from DIR or s3://bucket/prefix")
    if options.model is None and options.provider is None and options.prompt is None:
        fail("say what to replay against: --model M, --provider P or --prompt NAME@VERSION")
    if options.provider is not None and options.provider not in PROVIDERS:
        fail(f"unknown provider {options.provider!r}; choose one of: {', '.join(PROVIDERS)}")
    if options.concurrency < 1 or (options.limit is not None and options.limit < 1):
        fail("--concurrency and --limit must be at least 1")
    if options.prompt is not None:
        try:
            parse_ref(options.prompt)
        except ValueError as exc:  # parse_ref's plain ValueError is outside the tree
            fail(str(exc))
    return options


def _chosen(options: Options, collector: Collector) -> Chosen | None:
    """The --prompt version, from the collector's registry; an unknown NAME or VERSION fails here."""
    if options.prompt is None:
        return None
    name, number = parse_ref(options.prompt)
    try:
        return Chosen.of(collector.prompt(name), number)
    except LookupError as exc:  # outside the tree: no such prompt or version at the collector
        fail(str(exc))


def _start(options: Options, resume: str | None, state_dir: Path) -> tuple[ReplayState, Chosen | None]:
    """Check the archive and filter, the collector and the prompt before a replay id is made."""
    if resume is None:
        pick(options)
    collector = Collector(options.server)
    collector.check()
    chosen = _chosen(options, collector)
    if resume is not None:
        return ReplayState(state_dir, resume), chosen
    return ReplayState.start(state_dir, dataclasses.asdict(options)), chosen


def _wait_for_candidates(
    collector: Collector, experiment: str, expected: int, deadline_s: float = 60
) -> list[Any]:
    """The candidate calls, once the collector has stored all of them (or at the deadline)."""
    end = time.monotonic() + deadline_s
    while True:
        found = candidate_calls(collector, experiment)
        if len(found) >= expected or time.monotonic() > end:
            return found
        time.sleep(0.2)


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def print_comparison(comparison: dict[str, Any], experiment: str) -> None:
    table = Table(title=f"{experiment}: candidate vs baseline (95 % intervals)", title_justify="left")
    for column in ("metric", "baseline", "candidate", "difference"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for name, m in comparison["metrics"].items():
        cells = [
            f"{_fmt(m[v]['mean'])} [{_fmt(m[v]['low'])}, {_fmt(m[v]['high'])}]"
            for v in ("baseline", "candidate")
        ]
        d = m["difference"]
        rel = "-" if d["relative"] is None else f"{d['relative']:+.1%} [{_fmt(d['low'])}, {_fmt(d['high'])}]"
        table.add_row(LABELS[name], *cells, rel)
    console.print(table)
    s = comparison["output_similarity"]
    console.print(
        f"output similarity (token-set Jaccard, {s['pairs']} pairs): {_fmt(s['mean'], 3)} "
        f"[{_fmt(s['low'], 3)}, {_fmt(s['high'], 3)}]"
    )
    calls = comparison["calls"]
    counts = f"baseline {calls['baseline']}, candidate {calls['candidate']}, skipped {comparison['skipped']}"
    console.print(f"calls: {counts}")


def _replay(state: ReplayState, options: Options, chosen: Chosen | None, fmt: str) -> None:
    collector = Collector(options.server)
    rows = pick(options, chosen)
    done = state.done()
    todo = [r for r in rows if key(r) not in done]
    with Progress(console=console, transient=fmt == "json") as progress:
        task = progress.add_task(f"replay-{state.id}", total=len(rows), completed=len(rows) - len(todo))
        Replayer(options, state, chosen).run(todo, lambda: progress.advance(task))
    sent = {k: e for k, e in state.done().items() if not e.get("skipped")}
    experiment = f"replay-{state.id}"
    ids = [(r["trace_id"], r["span_id"]) for r in rows if key(r) in sent]
    cand = _wait_for_candidates(collector, experiment, len(sent))
    if ids:  # the archived calls become the experiment's baseline variant, by reference
        collector.add_members(experiment, "baseline", ids)
    comparison = compare(baseline_calls(collector, ids), cand, (e["similarity"] for e in sent.values()))
    skipped = len(rows) - len(sent)
    comparison = {"replay": state.id, "experiment": experiment, "skipped": skipped, **comparison}
    if fmt == "json":
        console.print_json(json.dumps(comparison))
    else:
        print_comparison(comparison, experiment)


Source = Annotated[str | None, typer.Option("--from", help="Archive directory or s3://bucket/prefix")]
Where = Annotated[str | None, typer.Option(help="Filter on sample fields, e.g. 'feature = \"triage\"'")]
Limit = Annotated[int | None, typer.Option(help="Replay at most N samples (oldest first)")]
Model = Annotated[str | None, typer.Option(help="Send to this model instead")]
Prompt = Annotated[
    str | None, typer.Option(help="Replay the samples of prompt NAME with its version VERSION")
]
Provider = Annotated[str | None, typer.Option(help="Send to this provider: openai, anthropic or aws.bedrock")]
Concurrency = Annotated[int, typer.Option(help="Calls in flight at once")]
Endpoint = Annotated[str | None, typer.Option(help="Provider base URL, as its client takes it")]
Server = Annotated[
    str | None, typer.Option(help="Collector that records the calls [env TOKENTRAIL_ENDPOINT]")
]
S3Endpoint = Annotated[str | None, typer.Option(help="S3 endpoint URL [env AWS_ENDPOINT_URL]")]
Resume = Annotated[str | None, typer.Option(help="Resume the interrupted replay with this id")]
StateDir = Annotated[Path, typer.Option(help="Where replays keep their progress")]


def replay(
    source: Source = None,
    since: SamplesSince = None,
    where: Where = None,
    limit: Limit = None,
    model: Model = None,
    prompt: Prompt = None,
    provider: Provider = None,
    concurrency: Concurrency = 8,
    endpoint: Endpoint = None,
    server: Server = None,
    s3_endpoint: S3Endpoint = None,
    resume: Resume = None,
    state_dir: StateDir = Path(DEFAULT_DIR),
    fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """Replay archived samples against another model or provider; compare them as an experiment."""
    if fmt not in ("table", "json"):
        fail("--format is table or json")
    try:
        if resume is not None:
            options = Options(**ReplayState(state_dir, resume).options())
        else:
            url = (server or _server()).rstrip("/")
            chosen = (since, where, limit, model, provider, concurrency, endpoint, s3_endpoint, prompt)
            options = _checked(Options(source or "", url, *chosen))
        _run(options, resume, state_dir, fmt)
    except (
        FileNotFoundError,
        httpx.HTTPError,
    ) as exc:  # outside the tree: no --resume state, HTTP
        fail(str(exc))


def _run(options: Options, resume: str | None, state_dir: Path, fmt: str) -> None:
    state, chosen = _start(options, resume, state_dir)
    if fmt != "json":
        console.print(f"replay {state.id} (resume with --resume {state.id})")
    _replay(state, options, chosen, fmt)
