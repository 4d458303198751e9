"""The stream timing state, with a fake clock: the lean per-chunk path on the caller, then TTFT, chunk
counting, ITL percentiles and throughput as the span worker computes them."""

from __future__ import annotations

from typing import Any

import pytest

from tokentrail import semconv as sc
from tokentrail.sdk import stream as stream_mod
from tokentrail.sdk.config import Settings
from tokentrail.sdk.stream import StreamTimer, quantile, read_kept, stream_attributes, timed_async, timed_sync

MS = 1_000_000


class FakeCall:
    def __init__(self, capture: bool = False) -> None:
        self.settings = Settings(capture_content=capture)
        self.capture = capture
        self.text: list[str] | None = [] if capture else None
        self.ended: list[tuple[Any, bool]] = []

    def end(self, exc: BaseException | None = None, closed: bool = False) -> None:
        self.ended.append((exc, closed))

    def internal_error(self) -> None:
        raise AssertionError("no internal error expected")


# A test chunk is (what the caller's classifier says, what the worker's observer says).
def classify(item: Any) -> Any:
    return item[0]


def observe(item: Any, call: Any) -> Any:
    return item[1]


def no_report() -> None:
    raise AssertionError("no internal error expected")


def test_quantile_interpolates() -> None:
    assert quantile([10], 0.95) == 10
    assert quantile([1, 2, 3, 4], 0.5) == 2.5
    assert quantile(list(range(101)), 0.95) == 95


ITEMS = [
    (None, None),  # 100: kept, framing (a first chunk with the model)
    ("Hel", "Hel"),  # 130: plain text
    ("lo", "lo"),  # 140
    (True, True),  # 150: plain output without text
    (None, True),  # 155: kept, output (a tool-call delta with arguments)
    (False, None),  # 160: framing with nothing to read: dropped at once
    (None, " world"),  # 175: kept, text (a refusal, say)
]
CLOCK = [100, 130, 140, 150, 155, 160, 175]


def test_timer_counts_only_output_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter(CLOCK).__next__
    monkeypatch.setattr(stream_mod, "perf_counter_ns", lambda: clock() * MS)
    call = FakeCall()
    timer = StreamTimer(call, classify)  # type: ignore[arg-type]
    wrapped = timed_sync(iter(ITEMS), timer)
    assert list(wrapped) == ITEMS
    assert call.ended == [(None, False)]
    # the caller kept only arrival times, and references to the chunks the classifier could not settle
    assert timer.stamps == [130 * MS, 140 * MS, 150 * MS]
    assert [item for _, item in timer.kept] == [ITEMS[0], ITEMS[4], ITEMS[6]]
    stamps = read_kept(timer, observe, no_report)
    assert stamps == [t * MS for t in (130, 140, 150, 155, 175)]
    attrs = stream_attributes(stamps, start_ns=100 * MS, end_ns=200 * MS, output_tokens=8)
    assert attrs[sc.TT_CHUNKS] == 5
    assert attrs[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] == 0.030  # the first output at 130, not 100
    assert attrs[sc.TT_TTLT_MS] == 100
    assert attrs[sc.TT_STREAM_DURATION_MS] == 70
    assert attrs[sc.TT_ITL_MAX_MS] == 20  # gaps 10, 10, 5, 20
    assert attrs[sc.TT_ITL_P50_MS] == 10
    assert attrs[sc.TT_OUTPUT_TOKENS_PER_S] == pytest.approx(8 / 0.070)


def test_content_capture_keeps_every_chunk_and_the_text_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter(CLOCK).__next__
    monkeypatch.setattr(stream_mod, "perf_counter_ns", lambda: clock() * MS)
    call = FakeCall(capture=True)
    timer = StreamTimer(call, classify)  # type: ignore[arg-type]
    list(timed_sync(iter(ITEMS), timer))
    assert timer.stamps == [] and len(timer.kept) == len(ITEMS)
    stamps = read_kept(timer, observe, no_report)
    assert stamps == [t * MS for t in (130, 140, 150, 155, 175)]
    assert call.text == ["Hel", "lo", " world"]


def test_a_failing_observer_is_reported_and_skips_one_chunk() -> None:
    call = FakeCall()
    timer = StreamTimer(call, classify)  # type: ignore[arg-type]
    list(timed_sync(iter([(None, "a"), (None, "boom"), (None, "b")]), timer))
    reported = []

    def fragile(item: Any, call: Any) -> Any:
        if item[1] == "boom":
            raise ValueError(item)
        return item[1]

    stamps = read_kept(timer, fragile, lambda: reported.append(1))
    assert (len(stamps), reported) == (2, [1])


def test_timer_ends_once_on_error_and_on_drop() -> None:
    call = FakeCall()
    timer = StreamTimer(call, classify)  # type: ignore[arg-type]

    def failing() -> Any:
        yield ("a", "a")
        raise ConnectionResetError

    wrapped = timed_sync(failing(), timer)
    with pytest.raises(ConnectionResetError):
        list(wrapped)
    timer.end()
    assert len(call.ended) == 1 and isinstance(call.ended[0][0], ConnectionResetError)

    dropped_call = FakeCall()
    dropped = timed_sync(iter([("a", "a"), ("b", "b")]), StreamTimer(dropped_call, classify))  # type: ignore[arg-type]
    next(dropped)
    del dropped  # a generator dropped mid-way is closed: the stream was abandoned
    assert dropped_call.ended == [(None, True)]


def test_async_wrapper_shares_the_timer() -> None:
    import asyncio

    items = [("a", "a"), (None, None), ("b", "b")]

    async def source() -> Any:
        for item in items:
            yield item

    async def consume() -> list[Any]:
        return [item async for item in timed_async(source(), timer)]

    call = FakeCall()
    timer = StreamTimer(call, classify)  # type: ignore[arg-type]
    assert asyncio.run(consume()) == items
    assert (len(timer.stamps), len(timer.kept), call.ended) == (2, 1, [(None, False)])


def test_no_output_means_no_ttft() -> None:
    attrs = stream_attributes([], 0, 5 * MS, None)
    assert attrs == {sc.TT_CHUNKS: 0, sc.TT_TTLT_MS: 5}
