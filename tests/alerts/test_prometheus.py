"""GET /metrics parses with prometheus_client's parser and its totals equal the store's."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tokentrail.server.app import create_app
from tokentrail.settings import Settings
from tokentrail.store.duckdb import DuckDBStore

from .helpers import call_span, send_otlp

T = dt.datetime(2026, 11, 2, 10, 0)


def spans() -> list[object]:
    out = []
    for i in range(60):
        attrs = {
            "tokentrail.feature": f"f{i % 4}",
            "tokentrail.app": "web" if i % 2 else "batch",
            "gen_ai.usage.input_tokens": 100 + i,
            "gen_ai.usage.output_tokens": 10 + i % 7,
            "tokentrail.ttft_ms": 40.0 + 30 * i,
        }
        if i % 9 == 0:
            attrs["error.type"] = "429"
            attrs["http.response.status_code"] = 429
        out.append(call_span(i + 1, T + dt.timedelta(seconds=i), **attrs))
    return out


def scrape(store: DuckDBStore, **settings: object) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    with TestClient(create_app(store, Settings(**settings))) as client:  # type: ignore[arg-type]
        send_otlp(client, spans())
        text = client.get("/metrics").text
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[s.name][tuple(sorted(s.labels.items()))] = s.value
    return samples


def test_metrics_totals_equal_the_store(tmp_path: Path) -> None:
    with DuckDBStore(tmp_path / "m.duckdb") as store:
        samples = scrape(store)
        row = store.query(
            "SELECT count(*), sum(input_tokens), sum(output_tokens), coalesce(sum(cost_usd), 0), "
            "count(*) FILTER (WHERE status = 'error'), count(ttft_ms), sum(ttft_ms), "
            "count(*) FILTER (WHERE ttft_ms <= 1000) FROM calls"
        ).rows[0]
        by_feature = dict(store.query("SELECT feature, count(*) FROM calls GROUP BY 1").rows)
    assert row[0] == 60
    assert sum(samples["tokentrail_calls_total"].values()) == row[0]
    tokens = samples["tokentrail_tokens_total"]
    assert sum(v for k, v in tokens.items() if ("kind", "input") in k) == row[1]
    assert sum(v for k, v in tokens.items() if ("kind", "output") in k) == row[2]
    assert abs(sum(samples["tokentrail_cost_usd_total"].values()) - row[3]) < 1e-9
    assert sum(samples["tokentrail_errors_total"].values()) == row[4] > 0
    assert sum(samples["tokentrail_ttft_ms_count"].values()) == row[5]
    assert abs(sum(samples["tokentrail_ttft_ms_sum"].values()) - row[6]) < 1e-6
    le_1000 = [v for k, v in samples["tokentrail_ttft_ms_bucket"].items() if ("le", "1000") in k]
    assert sum(le_1000) == row[7]
    per_feature: dict[str, float] = defaultdict(float)
    for labels, value in samples["tokentrail_calls_total"].items():
        per_feature[dict(labels)["feature"]] += value
    assert per_feature == {k: float(v) for k, v in by_feature.items()}
    assert samples["tokentrail_ingest_spans_total"][()] == 60


def test_series_past_the_cap_go_to_overflow(tmp_path: Path) -> None:
    with DuckDBStore(tmp_path / "m.duckdb") as store:
        samples = scrape(store, metrics_labels="feature", metrics_max_series=3)
    calls = {dict(k)["feature"]: v for k, v in samples["tokentrail_calls_total"].items()}
    assert len(calls) == 3 and "__overflow__" in calls
    assert sum(calls.values()) == 60


def test_the_grafana_dashboard_names_only_exported_metrics(tmp_path: Path) -> None:
    import json
    import re

    dashboard = json.loads((Path(__file__).parents[2] / "deploy/grafana/tokentrail.json").read_text())
    with DuckDBStore(tmp_path / "m.duckdb") as store:
        exported = set(scrape(store))
    names = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"tokentrail_[a-z_]+", target["expr"])
    }
    assert names and names <= exported
