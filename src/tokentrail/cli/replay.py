"""`tokentrail replay`: re-send archived samples to another model or provider, and compare (an experiment)."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.progress import Progress
from rich.table import Table

from tokentrail.archive.target import ArchiveError
from tokentrail.cli.common import console, fail
from tokentrail.query.errors import QueryError
from tokentrail.replay.compare import baseline_calls, candidate_calls, compare
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


def _checked(options: Options, prompt: str | None) -> Options:
    if prompt is not None:
        if importlib.util.find_spec("tokentrail.prompts") is None:
            fail("--prompt needs the prompt registry (tokentrail.prompts), which this build does not have")
        fail("--prompt is not supported by replay yet; use --model or --provider")
    if options.model is None and options.provider is None:
        fail("say what to replay against: --model M, --provider P or --prompt NAME@VERSION")
    if options.provider is not None and options.provider not in PROVIDERS:
        fail(f"unknown provider {options.provider!r}; choose one of: {', '.join(PROVIDERS)}")
    if options.concurrency < 1 or (options.limit is not None and options.limit < 1):
        fail("--concurrency and --limit must be at least 1")
    return options


def _new(options: Options, prompt: str | None, state_dir: Path) -> tuple[Options, ReplayState]:
    if not options.source:
        fail("say which archive to replay: --from DIR or s3://bucket/prefix")
    _checked(options, prompt)
    pick(options)  # a bad archive or filter fails before a replay id is made
    return options, ReplayState.start(state_dir, dataclasses.asdict(options))


def _wait_for_candidates(server: str, experiment: str, expected: int, deadline_s: float = 60) -> list[Any]:
    """The candidate calls, once the collector has stored all of them (or at the deadline)."""
    end = time.monotonic() + deadline_s
    while True:
        found = candidate_calls(server, experiment)
        if len(found) >= expected or time.monotonic() > end:
            return found
        time.sleep(0.2)


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def _print(comparison: dict[str, Any], experiment: str) -> None:
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
    console.print(f"calls: baseline {calls['baseline']}, candidate {calls['candidate']}")


def _replay(state: ReplayState, options: Options, fmt: str) -> None:
    rows = pick(options)
    done = state.done()
    todo = [r for r in rows if key(r) not in done]
    with Progress(console=console, transient=fmt == "json") as progress:
        task = progress.add_task(f"replay-{state.id}", total=len(rows), completed=len(rows) - len(todo))
        Replayer(options, state).run(todo, lambda: progress.advance(task))
    done = state.done()
    sent = sum(1 for entry in done.values() if not entry.get("skipped"))
    experiment = f"replay-{state.id}"
    ids = [(r["trace_id"], r["span_id"]) for r in rows]
    cand = _wait_for_candidates(options.server, experiment, sent)
    comparison = compare(baseline_calls(options.server, ids), cand, (e["similarity"] for e in done.values()))
    comparison = {"replay": state.id, "experiment": experiment, **comparison}
    if fmt == "json":
        console.print_json(json.dumps(comparison))
    else:
        _print(comparison, experiment)


def register(app: typer.Typer) -> None:
    @app.command()
    def replay(
        source: str = typer.Option(None, "--from", help="Archive directory or s3://bucket/prefix"),
        since: str = typer.Option(None, help="Only samples this recent (e.g. 7d)"),
        where: str = typer.Option(None, help="Filter on sample fields, e.g. 'feature = \"triage\"'"),
        limit: int = typer.Option(None, help="Replay at most N samples (oldest first)"),
        model: str = typer.Option(None, help="Send to this model instead"),
        prompt: str = typer.Option(None, help="NAME@VERSION of a registered prompt (not supported yet)"),
        provider: str = typer.Option(None, help="Send to this provider: openai, anthropic or aws.bedrock"),
        concurrency: int = typer.Option(8, help="Calls in flight at once"),
        endpoint: str = typer.Option(None, help="Provider base URL, as its client takes it"),
        server: str = typer.Option(None, help="Collector that records the calls [env TOKENTRAIL_ENDPOINT]"),
        s3_endpoint: str = typer.Option(None, help="S3 endpoint URL [env AWS_ENDPOINT_URL]"),
        resume: str = typer.Option(None, help="Resume the interrupted replay with this id"),
        state_dir: Path = typer.Option(Path(DEFAULT_DIR), help="Where replays keep their progress"),
        fmt: str = typer.Option("table", "--format", help="table or json"),
    ) -> None:
        """Replay archived samples against another model or provider; compare them as an experiment."""
        if fmt not in ("table", "json"):
            fail("--format is table or json")
        try:
            if resume is not None:
                state = ReplayState(state_dir, resume)
                options = Options(**state.options())
            else:
                chosen = Options(
                    source, (server or _server()).rstrip("/"), since, where, limit, model, provider
                )
                chosen.concurrency, chosen.endpoint, chosen.s3_endpoint = concurrency, endpoint, s3_endpoint
                options, state = _new(chosen, prompt, state_dir)
            if fmt != "json":
                console.print(f"replay {state.id} (resume with --resume {state.id})")
            _replay(state, options, fmt)
        except (ArchiveError, QueryError, FileNotFoundError, httpx.HTTPError) as exc:
            fail(str(exc))
