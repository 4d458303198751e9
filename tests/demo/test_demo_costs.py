"""Every call the demo made to the simulator's models is priced exactly as genai-prices' own data says,
part by part (non-cached input, cache reads, cache writes, output), and the parts sum to the total."""

from __future__ import annotations

import pytest

from support import expected_parts, package_price
from tokentrail.pricing import describe_model, load_prices
from tokentrail.store.duckdb import DuckDBStore

from .conftest import DemoRun


def test_every_demo_call_costs_what_the_price_data_says(demo_run: DemoRun) -> None:
    prices = load_prices(None)
    with DuckDBStore(demo_run.db, read_only=True) as store:
        rows = store.query(
            "SELECT provider, coalesce(response_model, request_model) AS model, request_model, start_time, "
            "input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, input_cost_usd, "
            "cache_cost_usd, output_cost_usd, cost_usd, price_source FROM calls WHERE status = 'ok'"
        ).dicts()
    assert rows
    checked = 0
    for row in rows:
        assert row["price_source"].startswith("genai-prices"), row  # every simulator model is priced
        how = describe_model(row["provider"], row["model"], prices)
        assert not how.tiered or (row["input_tokens"] or 0) < 200_000
        price = package_price(how.matched, row["start_time"])
        want_input, want_cache, want_output = expected_parts(price, row)
        assert row["input_cost_usd"] == pytest.approx(want_input, rel=1e-9, abs=1e-12)
        assert row["cache_cost_usd"] == pytest.approx(want_cache, rel=1e-9, abs=1e-12)
        assert row["output_cost_usd"] == pytest.approx(want_output, rel=1e-9, abs=1e-12)
        assert row["cost_usd"] == pytest.approx(want_input + want_cache + want_output, rel=1e-12)
        checked += 1
    assert checked == len(rows)
    assert len({r["model"] for r in rows}) >= 8  # the demo uses the simulator's models across providers
