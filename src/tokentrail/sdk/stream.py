"""Stream timing: one state object per streamed response, shared by sync and async iteration.

Definitions (all times from the start of the call, i.e. before the first HTTP attempt, so connection set-up
and retries are included, as the user experiences them):

- **TTFT** (time to first token): arrival of the first chunk that carries *output*: output text (answer,
  reasoning/thinking or refusal text) or a tool-call delta (a fragment of a tool call's arguments). Framing
  events do not count: role-only deltas, ``message_start``, the announcement of a tool call (its id and
  name, sent with no arguments), ``content_block_stop``, pings, usage-only chunks. (Counting announcements
  would add near-zero gaps that say nothing about generation speed.)
- **chunks**: the number of such output-carrying chunks, so counts compare across providers whose framing
  differs (Anthropic sends about six framing events per message, OpenAI one usage chunk).
- **ITL** (inter-token latency): the gaps between consecutive output chunks; p50, p95 (linear interpolation)
  and max (the longest stall). The arrival times are kept as a list of ints (ns), one append per output
  chunk; the gaps are sorted once at the end (streams hold at most thousands of chunks).
- **TTLT** (time to last token): when the stream ended (the iterator was exhausted, failed or was closed; a
  stream dropped unfinished ends, as cancelled, when its iterator is garbage collected).
- **stream duration**: TTLT - TTFT; **output tokens per second**: output tokens / stream duration.

TTFT is emitted under its GenAI name, ``gen_ai.response.time_to_first_chunk`` (seconds); the rest, which have
no GenAI name, as ``tokentrail.*`` extras in ms.

`StreamTimer` is the state; the generators `timed_sync` / `timed_async` only translate the iteration
protocol (``for`` vs ``async for``) and delegate everything else to it.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from time import perf_counter_ns
from typing import TYPE_CHECKING, Any

from tokentrail import semconv as sc

if TYPE_CHECKING:
    from tokentrail.sdk.call import CallRecord

Observer = Callable[[Any, "CallRecord"], "str | bool | None"]
"""Reads one chunk into the call (usage, model, stop reason, tools); returns its output text, True for
output without text (a tool-call delta), or None/False/"" for a framing chunk."""


def quantile(ordered: list[int], q: float) -> float:
    """Linear-interpolated quantile of an ascending list (numpy's default method)."""
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


class StreamTimer:
    """Arrival times of the output chunks of one stream (ints, ns); everything else is derived at the end."""

    __slots__ = ("call", "done", "observe", "stamps", "text")

    def __init__(self, call: CallRecord, observe: Observer) -> None:
        self.call = call
        self.observe = observe
        self.stamps: list[int] = []
        self.text = call.text
        self.done = False

    def chunk(self, item: Any) -> None:
        now = perf_counter_ns()
        try:
            content = self.observe(item, self.call)
        except Exception:
            self.call.internal_error()
            return
        if content:
            self.stamps.append(now)
            if content is not True and self.text is not None:
                self.text.append(content)

    def end(self, exc: BaseException | None = None, *, closed: bool = False) -> None:
        """The stream finished (exhausted, failed, or closed by the user before its end). Idempotent."""
        if self.done:
            return
        self.done = True
        self.call.end_stream(self, exc, closed)

    def attributes(self, start_ns: int, end_ns: int, output_tokens: int | None) -> dict[str, Any]:
        stamps = self.stamps
        attrs: dict[str, Any] = {sc.TT_CHUNKS: len(stamps), sc.TT_TTLT_MS: (end_ns - start_ns) / 1e6}
        if not stamps:
            return attrs
        duration_ms = (end_ns - stamps[0]) / 1e6
        attrs[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = (stamps[0] - start_ns) / 1e9  # GenAI's name, in s
        attrs[sc.TT_STREAM_DURATION_MS] = duration_ms
        if len(stamps) > 1:
            gaps = sorted(b - a for a, b in itertools.pairwise(stamps))
            attrs[sc.TT_ITL_P50_MS] = quantile(gaps, 0.5) / 1e6
            attrs[sc.TT_ITL_P95_MS] = quantile(gaps, 0.95) / 1e6
            attrs[sc.TT_ITL_MAX_MS] = gaps[-1] / 1e6
        if output_tokens and duration_ms > 0:
            attrs[sc.TT_OUTPUT_TOKENS_PER_S] = output_tokens / (duration_ms / 1000)
        return attrs


def timed_sync(items: Iterator[Any], timer: StreamTimer) -> Iterator[Any]:
    """Yield the stream's items, timing each; a generator, so the per-item cost stays small (a class with a
    ``__next__`` method costs several times more per chunk). Closing it, or dropping it, ends the timer."""
    chunk = timer.chunk
    try:
        for item in items:
            chunk(item)
            yield item
    except GeneratorExit:
        timer.end(closed=True)
        raise
    except BaseException as exc:
        timer.end(exc)
        raise
    timer.end()


async def timed_async(items: AsyncIterator[Any], timer: StreamTimer) -> AsyncIterator[Any]:
    """`timed_sync` for async iterators: only the iteration protocol differs."""
    chunk = timer.chunk
    try:
        async for item in items:
            chunk(item)
            yield item
    except GeneratorExit:
        timer.end(closed=True)
        raise
    except BaseException as exc:
        timer.end(exc)
        raise
    timer.end()


def end_on_close(stream: Any, timer: StreamTimer) -> None:
    """Make ``stream.close()`` (sync or async) also end the timer, for streams closed before their end."""
    original = stream.close
    if inspect.iscoroutinefunction(original):

        async def aclose() -> None:
            try:
                await original()
            finally:
                timer.end(closed=True)

        stream.close = aclose
        return

    def close() -> None:
        try:
            original()
        finally:
            timer.end(closed=True)

    stream.close = close
