"""The AWS event-stream encoder, checked with botocore's own decoder."""

from __future__ import annotations

import base64
import json
import struct
import zlib

import pytest
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer

from tokentrail.simulator import eventstream


def decode(data: bytes) -> list[tuple[dict[str, object], bytes]]:
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return [(dict(message.headers), message.payload) for message in buffer]


def test_event_frames_decode_with_botocore() -> None:
    chunk = base64.b64encode(b'{"type":"message_stop"}').decode()
    data = eventstream.event("chunk", {"bytes": chunk}) + eventstream.event("metadata", {"usage": {}})
    (headers, payload), (second_headers, _) = decode(data)
    assert headers == {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}
    assert json.loads(payload) == {"bytes": chunk}
    assert second_headers[":event-type"] == "metadata"


def test_exception_frame_headers() -> None:
    [(headers, payload)] = decode(eventstream.exception("throttlingException", "slow down"))
    assert headers[":message-type"] == "exception" and headers[":exception-type"] == "throttlingException"
    assert json.loads(payload) == {"message": "slow down"}


def test_prelude_and_message_crcs() -> None:
    frame = eventstream.encode_message({"a": "b"}, b"xyz")
    total, headers_length, prelude_crc = struct.unpack("!III", frame[:12])
    assert total == len(frame) == 16 + headers_length + 3
    assert prelude_crc == zlib.crc32(frame[:8])
    assert struct.unpack("!I", frame[-4:])[0] == zlib.crc32(frame[:-4])


def test_frames_split_across_reads_still_decode() -> None:
    data = b"".join(eventstream.event("contentBlockDelta", {"i": i}) for i in range(3))
    buffer = EventStreamBuffer()
    messages = []
    for start in range(0, len(data), 7):
        buffer.add_data(data[start : start + 7])
        messages.extend(buffer)
    assert [json.loads(m.payload)["i"] for m in messages] == [0, 1, 2]


@pytest.mark.parametrize("offset", [1, 14, -6, -1], ids=["prelude", "headers", "payload", "message-crc"])
def test_a_corrupted_byte_is_rejected(offset: int) -> None:
    frame = bytearray(eventstream.event("chunk", {"bytes": "aGVsbG8="}))
    frame[offset] ^= 0x01
    with pytest.raises(ChecksumMismatch):
        decode(bytes(frame))
