"""The stream timing state, with a fake clock: TTFT, chunk counting, ITL percentiles, throughput."""

from __future__ import annotations

from typing import Any

import pytest

from tokentrail import semconv as sc
from tokentrail.sdk import stream as stream_mod
from tokentrail.sdk.stream import StreamTimer, quantile, timed_async, timed_sync

MS = 1_000_000


class FakeCall:
    def __init__(self) -> None:
        self.text: list[str] | None = []
        self.ended: list[tuple[Any, bool]] = []

    def end_stream(self, timer: StreamTimer, exc: BaseException | None, closed: bool) -> None:
        self.ended.append((exc, closed))

    def internal_error(self) -> None:
        raise AssertionError("no internal error expected")


def observe(item: Any, call: Any) -> Any:
    return item  # the test items are what an observer returns: text, True, or None


def test_quantile_interpolates() -> None:
    assert quantile([10], 0.95) == 10
    assert quantile([1, 2, 3, 4], 0.5) == 2.5
    assert quantile(list(range(101)), 0.95) == 95


def test_timer_counts_only_output_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([100, 130, 140, 150, 155, 175, 180]).__next__
    monkeypatch.setattr(stream_mod, "perf_counter_ns", lambda: clock() * MS)
    call = FakeCall()
    timer = StreamTimer(call, observe)  # type: ignore[arg-type]
    items = [None, "Hel", "lo", True, None, " world"]  # framing, text, text, tool delta, framing, text
    wrapped = timed_sync(iter(items), timer)
    assert list(wrapped) == items
    assert call.ended == [(None, False)]
    assert call.text == ["Hel", "lo", " world"]
    attrs = timer.attributes(start_ns=100 * MS, end_ns=200 * MS, output_tokens=8)
    assert attrs[sc.TT_CHUNKS] == 4
    assert (
        attrs[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] == 0.030
    )  # the first text at 130, not the framing chunk at 100
    assert attrs[sc.TT_TTLT_MS] == 100
    assert attrs[sc.TT_STREAM_DURATION_MS] == 70
    assert attrs[sc.TT_ITL_MAX_MS] == 25  # gaps 10, 10, 25
    assert attrs[sc.TT_ITL_P50_MS] == 10
    assert attrs[sc.TT_OUTPUT_TOKENS_PER_S] == pytest.approx(8 / 0.070)


def test_timer_ends_once_on_error_and_on_drop() -> None:
    call = FakeCall()
    timer = StreamTimer(call, observe)  # type: ignore[arg-type]

    def failing() -> Any:
        yield "a"
        raise ConnectionResetError

    wrapped = timed_sync(failing(), timer)
    with pytest.raises(ConnectionResetError):
        list(wrapped)
    timer.end()
    assert len(call.ended) == 1 and isinstance(call.ended[0][0], ConnectionResetError)

    dropped_call = FakeCall()
    dropped = timed_sync(iter(["a", "b"]), StreamTimer(dropped_call, observe))  # type: ignore[arg-type]
    next(dropped)
    del dropped  # a generator dropped mid-way is closed: the stream was abandoned
    assert dropped_call.ended == [(None, True)]


def test_async_wrapper_shares_the_timer() -> None:
    import asyncio

    async def items() -> Any:
        for item in ("a", None, "b"):
            yield item

    async def consume() -> list[Any]:
        return [item async for item in timed_async(items(), timer)]

    call = FakeCall()
    timer = StreamTimer(call, observe)  # type: ignore[arg-type]
    assert asyncio.run(consume()) == ["a", None, "b"]
    assert (len(timer.stamps), call.ended, call.text) == (2, [(None, False)], ["a", "b"])


def test_no_output_means_no_ttft() -> None:
    timer = StreamTimer(FakeCall(), observe)  # type: ignore[arg-type]
    attrs = timer.attributes(0, 5 * MS, None)
    assert attrs == {sc.TT_CHUNKS: 0, sc.TT_TTLT_MS: 5}
