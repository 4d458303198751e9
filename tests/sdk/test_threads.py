"""Labels and the current trace reach LLM calls made in thread pools and threads (on by default with
`instrument()`), captured when the work is submitted or the thread started: stored by the real collector."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import pytest

from tokentrail import Tokentrail

from .conftest import Collector, Recorder, sending, steer, stored

MESSAGES = [{"role": "user", "content": "hi"}]
QUICK = steer(output_tokens=3, ttft_ms=1, itl_ms=1)
LLM_ROWS = "SELECT app, tenant, trace_id, feature FROM spans WHERE kind = 'llm' ORDER BY start_time"


@pytest.fixture
def tt(rec: Recorder, collector: Collector, tmp_path: Path) -> Iterator[Tokentrail]:
    """An instance sending to the collector, set up as an application would: ``instrument()``, defaults."""
    rec.tt.uninstrument()
    instance = sending(collector, tmp_path / "spool")
    try:
        instance.instrument()
        yield instance
    finally:
        instance.uninstrument()
        instance.shutdown()
        rec.tt.instrument()  # the session instance patches again


@pytest.mark.parametrize("pool_made", ["outside", "inside"])
def test_pool_calls_carry_labels_and_trace(
    tt: Tokentrail, collector: Collector, rec: Recorder, pool_made: str
) -> None:
    with openai.OpenAI(base_url=rec.sim.url + "/v1", api_key="test") as client:

        def ask(_: object = None) -> None:
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, extra_headers=QUICK)

        outside = ThreadPoolExecutor(max_workers=4)
        with tt.labels(app="shop", tenant="t2"), tt.trace("batch") as root:
            pool = outside if pool_made == "outside" else ThreadPoolExecutor(max_workers=4)
            list(pool.map(ask, range(20)))  # the workers start here, inside the block
        with tt.labels(feature="after"):  # the same workers, after the block: its labels are gone
            list(pool.map(ask, range(2)))
        ask()
        pool.shutdown()
        outside.shutdown()
    rows = stored(collector, tt, 23, LLM_ROWS)
    trace_id = format(root.get_span_context().trace_id, "032x")
    inside = [r for r in rows if r["feature"] is None and r["app"] is not None]
    assert len(inside) == 20
    assert all((r["app"], r["tenant"], r["trace_id"]) == ("shop", "t2", trace_id) for r in inside)
    later = [r for r in rows if r not in inside]
    assert [(r["app"], r["tenant"], r["feature"]) for r in later] == [
        (None, None, "after"),
        (None, None, "after"),
        (None, None, None),
    ]
    assert all(r["trace_id"] != trace_id for r in later)


def test_threads_started_inside_carry_labels_and_trace(
    tt: Tokentrail, collector: Collector, rec: Recorder
) -> None:
    with openai.OpenAI(base_url=rec.sim.url + "/v1", api_key="test") as client:

        def ask() -> None:
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, extra_headers=QUICK)

        class Worker(threading.Thread):  # a subclass with its own run() too
            def run(self) -> None:
                ask()

        made_before = threading.Thread(target=ask)  # what counts is where it is started
        with tt.labels(app="shop", tenant="t2"), tt.trace("batch") as root:
            threads = [threading.Thread(target=ask), Worker(), made_before]
            for thread in threads:
                thread.start()
        for thread in threads:
            thread.join()
        after = Worker()
        after.start()
        after.join()
    rows = stored(collector, tt, 4, LLM_ROWS)
    trace_id = format(root.get_span_context().trace_id, "032x")
    assert [(r["app"], r["tenant"], r["trace_id"]) for r in rows[:3]] == [("shop", "t2", trace_id)] * 3
    assert (rows[3]["app"], rows[3]["tenant"]) == (None, None) and rows[3]["trace_id"] != trace_id


SWITCH_SCRIPT = """
import json, sys, threading
from concurrent.futures import ThreadPoolExecutor
import tokentrail
from tokentrail.sdk.context import current_labels

tokentrail.configure(send_to_collector=False, **json.loads(sys.argv[1]))
tokentrail.instrument()

def seen():
    return dict(current_labels().labels)

def run():
    out = {}
    with tokentrail.labels(app="shop"), ThreadPoolExecutor(2) as pool:
        out["pool"] = pool.submit(seen).result()
        thread = threading.Thread(target=lambda: out.update(thread=seen()))
        thread.start()
        thread.join()
    return out

first = run()
tokentrail.uninstrument()
print(json.dumps([first, run()]))
"""


@pytest.mark.parametrize(
    ("env", "config", "carried"),
    [
        ({}, {}, True),  # the default
        ({"TOKENTRAIL_PROPAGATE_THREADS": "0"}, {}, False),
        ({}, {"propagate_threads": False}, False),
    ],
)
def test_thread_propagation_switch_and_uninstrument(
    env: dict[str, str], config: dict[str, bool], carried: bool
) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TOKENTRAIL_")} | env
    out = subprocess.run(
        [sys.executable, "-c", SWITCH_SCRIPT, json.dumps(config)],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    first, after_uninstrument = json.loads(out)
    expected = {"app": "shop"} if carried else {}
    assert first == {"pool": expected, "thread": expected}
    assert after_uninstrument == {"pool": {}, "thread": {}}
