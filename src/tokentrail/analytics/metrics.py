"""The aggregate expressions read queries select, by alias."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tokentrail.model import ErrorClass

ERROR_CLASSES = [e.value for e in ErrorClass]

SUMMARY_SELECT = [
    ("calls", "count(*)"),
    ("errors", "sum(CASE WHEN status = 'error' THEN 1 ELSE 0 END)"),
    ("error_rate", "avg(CASE WHEN status = 'error' THEN 1.0 ELSE 0.0 END)"),
    ("retries", "sum(attempts) - count(attempts)"),  # attempts >= 1 where recorded; null means one
    ("degraded_calls", "count(degraded)"),
    ("input_tokens", "sum(input_tokens)"),
    ("output_tokens", "sum(output_tokens)"),
    ("cache_read_tokens", "sum(cache_read_tokens)"),
    ("cache_write_tokens", "sum(cache_write_tokens)"),
    ("reasoning_tokens", "sum(reasoning_tokens)"),
    ("cost_usd", "sum(cost_usd)"),
    ("cost_per_call_usd", "sum(cost_usd) / nullif(count(cost_usd), 0)"),
    ("unpriced_calls", "sum(CASE WHEN cost_usd IS NULL AND status = 'ok' THEN 1 ELSE 0 END)"),
    ("avg_prompt_chars", "avg(prompt_chars)"),
]
# Errors by class: counted in a second query over error rows only (a few percent of calls), which costs far
# less than one CASE per class over every row.
ERROR_CLASS_SELECT = [
    (f"errors_{cls}", f"sum(CASE WHEN error_class = '{cls}' THEN 1 ELSE 0 END)") for cls in ERROR_CLASSES
]
SUMMARY_EXPR = dict(SUMMARY_SELECT + ERROR_CLASS_SELECT)
_EXTRA_EXPR = {
    "avg_input_tokens": "avg(input_tokens)",
    "avg_output_tokens": "avg(output_tokens)",
    "priced_calls": "count(cost_usd)",
}


def select(aliases: Sequence[str]) -> str:
    """The select list of the named aggregates."""
    return ", ".join(f"{_EXTRA_EXPR.get(a) or SUMMARY_EXPR[a]} AS {a}" for a in aliases)


def aliased(pairs: Iterable[tuple[str, str]]) -> list[str]:
    """`expr AS alias` for each (alias, expr)."""
    return [f"{expr} AS {alias}" for alias, expr in pairs]


def positions(count: int) -> str:
    """'1, 2, ..., count': GROUP BY the first columns by position."""
    return ", ".join(str(i + 1) for i in range(count))
