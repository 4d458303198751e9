"""Typed read queries shared by the API, the CLI and the dashboard, one module per concern.

- `ranges`: time ranges (`TimeRange`, `previous_range`, `parse_period`); times and durations as typed are
  read by `tokentrail.times`.
- `fields`: the fixed tables of identifiers a query may name (`DIMENSIONS`, `FILTERS`, `SORTS`) and the
  `WHERE` clause built from a range and filters.
- `metrics`: the aggregate expressions (`SUMMARY_SELECT`, errors by class) and `select`.
- `scan` and `percentiles`: the follow-up scans a summary shares with the dashboard (errors by class,
  percentiles exact within a budget, sampled past it).
- `summary`: aggregates per group. `dashboard`: overview totals, time series, breakdowns, top values.
- `compare`: a period against the previous one, and picked values side by side.
- `calls`: call lists, spans, stream timelines, whole calls and the models seen.
- `chargeback`: chargeback by label, and the daily rollup retention writes before it deletes calls.
- `long_ranges`: views over more than 24 h read from the rollups kept at ingest (`tokentrail.store.rollups`),
  which `summary`, `dashboard` and `chargeback` use.

Identifiers reach SQL text only from the fixed tables in these modules (never from user text); a name not in
its table raises `tokentrail.exceptions.BadRequest` before any SQL is built. Values are always bound
parameters. The SQL is written once in the DuckDB dialect and transpiled for ClickHouse by the store. Import
from the concern modules: this package re-exports nothing.
"""
