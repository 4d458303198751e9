"""Content waiting for its span: merged per span, bounded in bytes (oldest out first) and in time."""

from __future__ import annotations

from tokentrail.samples.join import Waiting, size_of


def body(text: str) -> dict[str, object]:
    return {"system": None, "messages": [{"role": "user", "content": text}], "tools": None, "output": []}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_content_of_one_span_from_several_requests_is_merged_in_order() -> None:
    waiting = Waiting(60, 1 << 20)
    waiting.hold(("t", "s"), body("first"), None)
    waiting.hold(("t", "s"), {"system": [{"content": "sys"}], "messages": [], "output": [{"x": 1}]}, None)
    held = waiting.take([("t", "s"), ("t", "other")])[("t", "s")]
    assert held.body["messages"] == [{"role": "user", "content": "first"}]
    assert held.body["system"] == [{"content": "sys"}] and held.body["output"] == [{"x": 1}]
    assert len(waiting) == 0 and waiting.bytes == 0


def test_memory_is_bounded_the_oldest_going_first() -> None:
    one = size_of(body("a" * 100))
    waiting = Waiting(60, 2 * one)
    for span in ("1", "2", "3"):
        waiting.hold(("t", span), body("a" * 100), ("acme",))
    assert set(waiting.take([("t", "1"), ("t", "2"), ("t", "3")])) == {("t", "2"), ("t", "3")}
    waiting.hold(("t", "4"), body("a" * 1000), None)
    assert waiting.stats() == {
        "content_waiting": 0,
        "content_waiting_bytes": 0,
        "content_evicted": 1,
        "content_too_big": 1,
    }


def test_content_waits_at_most_wait_s() -> None:
    clock = Clock()
    waiting = Waiting(30, 1 << 20, clock)
    waiting.hold(("t", "1"), body("x"), None)
    clock.now = 20
    waiting.hold(("t", "2"), body("y"), None)
    assert waiting.expired() == {}
    clock.now = 30
    assert list(waiting.expired()) == [("t", "1")]
    clock.now = 50
    assert list(waiting.expired()) == [("t", "2")] and len(waiting) == 0
