"""`tokentrail experiments list|show`: A/B tests with intervals, significance, sample ratio and power."""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated, Any

import typer

from tokentrail.analytics.ranges import TimeRange
from tokentrail.cli.common import console, fail, group, opened_store, plain, say
from tokentrail.cli.options import Db, End, Format, SinceOrAll, Start, TableOrJson, Wide
from tokentrail.experiments import analysis, data
from tokentrail.experiments.analysis import METRICS, Spec
from tokentrail.render.tables import Column, Grid, print_grid

app = group("A/B experiments: calls labelled with experiment and variant, compared with intervals.")

# What `show` reports when no --metric is given (error rates by class are added for the classes seen).
DEFAULT_METRICS = (
    ("latency_ms", "median"),
    ("latency_ms", "p95"),
    ("ttft_ms", "median"),
    ("output_tokens_per_s", "median"),
    ("cost_usd", "mean"),
    ("cost_usd", "per_success"),
    ("input_tokens", "mean"),
    ("output_tokens", "mean"),
    ("error_rate", "rate"),
    ("degraded_rate", "rate"),
)
COLUMNS = (
    Column("variant"),
    Column("n", numeric=True),
    Column("estimate [95% CI]", numeric=True),
    Column("vs control [95% CI]", numeric=True),
    Column("p", numeric=True, drop=1),
)
LIST_COLUMNS = (
    Column("experiment"),
    Column("variants (calls)"),
    Column("calls", numeric=True),
    Column("first", drop=2),
    Column("last", drop=1),
)

Metric = Annotated[list[str] | None, typer.Option(help=f"Repeatable: {', '.join(METRICS)}")]
Stat = Annotated[str | None, typer.Option(help="median, p95, mean, per_success or rate (default per metric)")]
Unit = Annotated[str, typer.Option(help=f"Unit of randomisation: {', '.join(data.UNITS)}")]
Mode = Annotated[str, typer.Option(help="sequential (safe to peek) or fixed (planned sample size)")]
Control = Annotated[str | None, typer.Option(help="The control variant (default: control, baseline or A)")]
Split = Annotated[str | None, typer.Option(help="Intended split, e.g. A=50,B=50 (default equal)")]
Effect = Annotated[
    float | None, typer.Option(help="A relative effect to plan for (0.05): calls still needed")
]


def time_range(since: str | None, start: str | None, end: str | None) -> TimeRange | None:
    return TimeRange.resolve(since, start, end) if since or start or end else None


def specs(metrics: list[str], stat: str | None, classes: list[str], base: Spec) -> list[Spec]:
    """The analyses `show` runs: the named metrics (with --stat), or the default list."""
    if metrics:
        pairs = [(m, stat) for m in metrics]
    elif stat:
        pairs = [(m, stat) for m in METRICS if stat in METRICS[m]]
    else:
        pairs = [*DEFAULT_METRICS, *(("error_rate", c) for c in classes)]
    out = []
    for metric, second in pairs:
        is_class = metric == "error_rate" and second not in (None, "rate")
        error_class = second if is_class else base.error_class
        stat_of = None if is_class else second
        out.append(dataclasses.replace(base, metric=metric, stat=stat_of, error_class=error_class).checked())
    return out


def number(value: float | None, rate: bool = False) -> str:
    if value is None:
        return "-"
    if rate:
        return f"{value * 100:.2f}%"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}" if abs(value) >= 1 else f"{value:.3g}"


def signed(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:+.1f}%"


def title(answer: dict[str, Any]) -> str:
    name = f"{answer['metric']} {answer['stat']}"
    if answer.get("error_class"):
        name = f"{answer['metric']} ({answer['error_class']})"
    return f"{answer['experiment']}: {name} ({answer['mode']}, unit {answer['unit']})"


def power_line(answer: dict[str, Any]) -> str:
    if answer["mde_rel"] is None:
        return "Too little data for power guidance."
    line = f"Smallest difference detectable now (80 % power): ±{answer['mde_rel'] * 100:.1f}%"
    needed = answer.get("calls_needed")
    return line if needed is None else f"{line}; calls still needed for the effect asked: {needed:,.0f}"


def render(answer: dict[str, Any]) -> Grid:
    """One metric: each variant's estimate and interval, and its difference from the control (significant
    differences in bold, marked *)."""
    grid = Grid(COLUMNS, title(answer))
    rate = answer["stat"] == "rate"
    compared = {c["variant"]: c for c in answer["comparisons"]}
    for v in answer["variants"]:
        estimate = (
            f"{number(v['estimate'], rate)} [{number(v['ci_low'], rate)}, {number(v['ci_high'], rate)}]"
        )
        c = compared.get(v["variant"])
        style = "bold green" if c and c["significant"] else None
        grid.add(v["variant"], f"{v['n']:,}", estimate, *_versus(c), style=style)
    return grid


def _versus(c: dict[str, Any] | None) -> tuple[str, str]:
    if c is None:
        return "control", ""
    text = f"{signed(c['diff_rel'])} [{signed(c['ci_low'])}, {signed(c['ci_high'])}]"
    p = "-" if c["p_value"] is None else "<0.001" if c["p_value"] < 0.001 else f"{c['p_value']:.3f}"
    return (f"{text} *" if c["significant"] else text), p


def print_footer(answer: dict[str, Any]) -> None:
    srm = answer["srm"]
    if srm["mismatch"]:
        line = f"Sample ratio mismatch: p = {srm['p_value']:.2g} against the intended split; "
        say(
            line + "the variants were not assigned as planned, so the comparisons are not trustworthy.",
            "bold red",
        )
    else:
        shown = "-" if srm["p_value"] is None else f"{srm['p_value']:.3f}"
        say(f"Sample ratio: p = {shown}, no mismatch with the intended split.")
    mode = "always valid, safe to check every day" if answer["mode"] == "sequential" else "fixed horizon"
    say(f"* significant at 5 % ({mode}).")


def list_table(found: list[dict[str, Any]]) -> Grid:
    grid = Grid(LIST_COLUMNS, "Experiments")
    for e in found:
        variants = ", ".join(f"{v['variant']} ({v['calls']:,})" for v in e["variants"])
        grid.add(
            e["experiment"],
            variants,
            f"{e['calls']:,}",
            f"{e['first']:%Y-%m-%d %H:%M}",
            f"{e['last']:%Y-%m-%d %H:%M}",
        )
    return grid


def show_answers(
    db: str | None,
    name: str,
    base: dict[str, Any],
    metrics: list[str],
    stat: str | None,
    window: tuple[str | None, ...],
) -> list[dict[str, Any]]:
    with opened_store(db, read_only=True) as store:
        spec = Spec(**{**base, "split": analysis.parse_split(base["split"])}).checked()
        calls = data.fetch_calls(store, name, spec.unit, time_range(*window))
        classes = sorted({str(c) for c in calls.columns["error_class"] if c is not None})
        return [analysis.analyse(calls, s) for s in specs(metrics, stat, classes, spec)]


@app.command("list")
def list_command(
    db: Db = None,
    since: SinceOrAll = None,
    start: Start = None,
    end: End = None,
    fmt: TableOrJson = Format.TABLE,
    wide: Wide = False,
) -> None:
    """Every experiment with its variants and calls."""
    with opened_store(db, read_only=True) as store:
        found = data.list_experiments(store, time_range(since, start, end))
    if fmt != Format.TABLE:
        typer.echo(json.dumps(found, indent=2, default=plain))
    elif found:
        print_grid(console, list_table(found), wide)
    else:
        say("No calls carry experiment and variant labels.")


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="The experiment label's value")],
    metric: Metric = None,
    stat: Stat = None,
    unit: Unit = "call",
    mode: Mode = "sequential",
    control: Control = None,
    split: Split = None,
    effect: Effect = None,
    db: Db = None,
    since: SinceOrAll = None,
    start: Start = None,
    end: End = None,
    fmt: TableOrJson = Format.TABLE,
    wide: Wide = False,
) -> None:
    """Each variant's estimate with a 95 % interval, its difference from the control, SRM and power."""
    if fmt == Format.CSV:
        fail("--format is table or json for experiments")
    base = {"unit": unit, "mode": mode, "control": control, "split": split, "effect": effect}
    answers = show_answers(db, name, base, metric or [], stat, (since, start, end))
    if fmt == Format.JSON:
        typer.echo(json.dumps(answers, indent=2))
        return
    for answer in answers:
        print_grid(console, render(answer), wide)
        say(power_line(answer), "dim")
    print_footer(answers[0])
