"""Stream timing: one state object per streamed response, shared by sync and async iteration.

Definitions (all times from the start of the call, when the application entered the SDK's method, so request
building, connection set-up and retries are included, as the user experiences them):

- **TTFT** (time to first token): arrival of the first chunk that carries *output*: output text (answer,
  reasoning/thinking or refusal text) or a tool-call delta (a fragment of a tool call's arguments). Framing
  events do not count: role-only deltas, ``message_start``, the announcement of a tool call (its id and
  name, sent with no arguments), ``content_block_stop``, pings, usage-only chunks. (Counting announcements
  would add near-zero gaps that say nothing about generation speed.)
- **chunks**: the number of such output-carrying chunks, so counts compare across providers whose framing
  differs (Anthropic sends about six framing events per message, OpenAI one usage chunk).
- **ITL** (inter-token latency): the gaps between consecutive output chunks; p50, p95 (linear interpolation)
  and max (the longest stall). The arrival times are kept as a list of ints (ns), one append per output
  chunk; the gaps are sorted once, on the worker (streams hold at most thousands of chunks).
- **TTLT** (time to last token): when the stream ended (the iterator was exhausted, failed or was closed; a
  stream dropped unfinished ends, as cancelled, when its iterator is garbage collected).
- **stream duration**: TTLT - TTFT; **output tokens per second**: output tokens / stream duration.
- **timeline**: when the output chunks arrived, as chunk numbers and ms from the start of the call, at most
  `model.TIMELINE_MAX_POINTS` of them (`timeline`: a longer stream keeps its first and last chunks, the two
  around the longest gap, and an even spread of the rest), so the page of a call shows where it stalled.

TTFT is emitted under its GenAI name, ``gen_ai.response.time_to_first_chunk`` (seconds); the rest, which have
no GenAI name, as ``tokentrail.*`` extras in ms.

**Who does what.** On the caller's thread, per chunk, the stream's generator (`timed_sync`, `timed_async`)
takes the arrival time and asks the provider's *classifier* one cheap question (a type check and a field or
two): is this a plain output chunk (text, or a tool-call argument delta that needs no further reading)? Such a
chunk leaves only its arrival time behind. Any other chunk (the first and the last, tool-call announcements,
usage, errors: a handful per text stream; every chunk of an OpenAI Chat tool call, and of a Bedrock
InvokeModel stream, whose bodies are decoded on the worker) is kept by reference with its arrival time. The
span worker (`tokentrail.sdk.worker`) later reads the kept chunks in order with the provider's full *observer*
(usage, model, stop reason, tool names; it also decides whether a kept chunk carried output) and computes the
statistics (`read_kept`, `stream_attributes`).
With content capture on, every chunk is kept, so the captured text is complete and in order.

`StreamTimer` is the state; the generators `timed_sync` / `timed_async` differ only in the iteration protocol
(``for`` vs ``async for``): each writes out the same few lines per chunk rather than calling a method, which
cost about as much again per chunk.
"""

from __future__ import annotations

import inspect
import operator
from collections.abc import AsyncIterator, Callable, Iterator
from time import perf_counter_ns
from typing import Any

from tokentrail import semconv as sc
from tokentrail.model import TIMELINE_MAX_POINTS
from tokentrail.sdk.types import Classifier, Observer, Shown, TimedCall


def keep(chunk: Any) -> None:
    """The classifier that keeps every chunk for the worker (content capture; bodies not decoded yet)."""
    return None


def quantile(ordered: list[int], q: float) -> float:
    """Linear-interpolated quantile of an ascending list (numpy's default method)."""
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


class StreamTimer:
    """Arrival times of one stream's plain output chunks (ints, ns); the other chunks, kept for the worker."""

    __slots__ = ("call", "classify", "done", "kept", "shown", "stamps")

    def __init__(self, call: TimedCall, classify: Classifier | None, shown: Shown | None = None) -> None:
        self.call = call
        self.classify = keep if classify is None or call.capture else classify
        self.shown = shown  # what the application sees of each chunk (None: every chunk as it came)
        self.stamps: list[int] = []
        self.kept: list[tuple[int, Any]] = []
        self.done = False

    def misread(self) -> None:
        """The classifier failed on a chunk (call inside ``except``): reported; the chunk is kept, so the
        worker's observer reads it instead."""
        self.call.internal_error()

    def end(self, exc: BaseException | None = None, *, closed: bool = False) -> None:
        """The stream finished (exhausted, failed, or closed by the user before its end). Idempotent."""
        if self.done:
            return
        self.done = True
        self.call.end(exc=exc, closed=closed)


def read_kept(timer: StreamTimer, observe: Observer[Any], report: Callable[[], None]) -> list[int]:
    """On the worker: read the kept chunks in order; the arrival times of all the output chunks, in order."""
    call = timer.call
    text = call.text
    found = []
    for now, item in timer.kept:
        try:
            content = observe(item, call)
        except Exception:
            report()
            continue
        if content:
            found.append(now)
            if content is not True and text is not None:
                text.append(content)
    return sorted(timer.stamps + found) if found else timer.stamps


def timeline(
    stamps: list[int], start_ns: int, most: int = TIMELINE_MAX_POINTS
) -> tuple[list[int], list[float]]:
    """(chunk numbers, their offsets in ms from `start_ns`, to the µs) of at most `most` of the chunks.

    Every chunk when they fit; otherwise the first and the last, the two on either side of the longest gap
    (so it stays exact and in place) and the rest evenly spread by chunk number."""
    n = len(stamps)
    shift = 500 - start_ns  # to the µs in integers (half a µs up), then in ms: cheaper than round(x, 3)
    if n <= most:
        return list(range(n)), [(stamp + shift) // 1000 / 1000 for stamp in stamps]
    after = max(range(1, n), key=lambda i: stamps[i] - stamps[i - 1])  # the chunk after the longest gap
    keep = {0, n - 1, after - 1, after}
    spare = most - len(keep)
    keep.update(round(k * (n - 1) / (spare + 1)) for k in range(1, spare + 1))
    picked = sorted(keep)
    return picked, [(stamps[i] + shift) // 1000 / 1000 for i in picked]


def stream_attributes(
    stamps: list[int], start_ns: int, end_ns: int, output_tokens: int | None
) -> dict[str, Any]:
    """TTFT, chunks, ITL, TTLT, throughput and the timeline from the output chunks' arrival times (see the
    docstring)."""
    attrs: dict[str, Any] = {sc.TT_CHUNKS: len(stamps), sc.TT_TTLT_MS: (end_ns - start_ns) / 1e6}
    if not stamps:
        return attrs
    duration_ms = (end_ns - stamps[0]) / 1e6
    attrs[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = (stamps[0] - start_ns) / 1e9  # GenAI's name, in s
    attrs[sc.TT_STREAM_DURATION_MS] = duration_ms
    chunks, attrs[sc.TT_TIMELINE_OFFSETS_MS] = timeline(stamps, start_ns)
    if len(chunks) < len(stamps):  # downsampled: which chunks were kept (else they are 0, 1, 2, ...)
        attrs[sc.TT_TIMELINE_CHUNKS] = chunks
    if len(stamps) > 1:
        gaps = sorted(map(operator.sub, stamps[1:], stamps))  # each chunk's gap to the one before
        attrs[sc.TT_ITL_P50_MS] = quantile(gaps, 0.5) / 1e6
        attrs[sc.TT_ITL_P95_MS] = quantile(gaps, 0.95) / 1e6
        attrs[sc.TT_ITL_MAX_MS] = gaps[-1] / 1e6
    if output_tokens and duration_ms > 0:
        attrs[sc.TT_OUTPUT_TOKENS_PER_S] = output_tokens / (duration_ms / 1000)
    return attrs


def timed_sync(items: Iterator[Any], timer: StreamTimer, owner: Any = None) -> Iterator[Any]:
    """Yield what the application sees of the stream's items (`StreamTimer.shown`), timing each; a generator,
    so the per-item cost stays small (a class with a ``__next__`` method costs several times more per
    chunk). Closing it, or dropping it, ends the timer.

    Per chunk, written out in the loop (here and in `timed_async`; a method call per chunk cost about as
    much as the rest): the arrival time, then the classifier's answer: output text or True, only the time
    is kept; None, the time and the chunk (read on the worker); False or "", nothing.

    `owner`, held until the end, is the stream object whose drop also ends the timer (a finalizer): without
    it, the stream can be freed as its own iterator finishes, before this generator records the end."""
    classify, shown, stamp, keep_ = timer.classify, timer.shown, timer.stamps.append, timer.kept.append
    try:
        for item in items:
            now = perf_counter_ns()
            try:
                content = classify(item)
            except Exception:
                timer.misread()
                content = None
            if content:
                stamp(now)
            elif content is None:
                keep_((now, item))
            if shown is None:
                yield item
            elif (visible := shown(item)) is not None:
                yield visible
    except GeneratorExit:
        timer.end(closed=True)
        raise
    except BaseException as exc:
        timer.end(exc)
        raise
    timer.end()


async def timed_async(items: AsyncIterator[Any], timer: StreamTimer) -> AsyncIterator[Any]:
    """`timed_sync` for async iterators: only the iteration protocol differs."""
    classify, shown, stamp, keep_ = timer.classify, timer.shown, timer.stamps.append, timer.kept.append
    try:
        async for item in items:
            now = perf_counter_ns()
            try:
                content = classify(item)
            except Exception:
                timer.misread()
                content = None
            if content:
                stamp(now)
            elif content is None:
                keep_((now, item))
            if shown is None:
                yield item
            elif (visible := shown(item)) is not None:
                yield visible
    except GeneratorExit:
        timer.end(closed=True)
        raise
    except BaseException as exc:
        timer.end(exc)
        raise
    timer.end()


def ending_close(close: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A stream class's `close` (sync or async) that also ends the stream's ``_tokentrail_timer`` (if any),
    for streams closed before their end.

    The timer is an attribute of the stream and `close` a method of its class: a closure set on the
    instance would refer back to the stream, a reference cycle leaving every stream, with its response and
    buffers, to the garbage collector (tens of µs per call)."""
    if inspect.iscoroutinefunction(close):

        async def aclose(self: Any) -> None:
            try:
                await close(self)
            finally:
                _end_closed(self)

        return aclose

    def sync_close(self: Any) -> None:
        try:
            close(self)
        finally:
            _end_closed(self)

    return sync_close


def _end_closed(stream: Any) -> None:
    timer: StreamTimer | None = getattr(stream, "_tokentrail_timer", None)
    if timer is not None:
        timer.end(closed=True)
