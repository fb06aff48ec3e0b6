"""Push bodies as Loki receives them: JSON (plain, gzip, deflate) and snappy-compressed protobuf.

The protobuf payloads are encoded here by hand from push.proto's field numbers, independent of
the decoder, so a wrong field number or wire type in the decoder fails these tests.
"""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path

import cramjam
import pytest

from common.errors import InputError
from servers.loki_mcp.local.push import decode_push, parse_label_set
from servers.loki_mcp.models import PushEntry, PushStream

FIXTURES = Path(__file__).parents[2] / "fixtures" / "loki"


# --- a minimal protobuf wire encoder ---------------------------------------------------------


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field_bytes(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def field_varint(number: int, value: int) -> bytes:
    return varint(number << 3 | 0) + varint(value)


def entry(seconds: int, nanos: int, line: str, metadata: dict[str, str] | None = None) -> bytes:
    timestamp = field_varint(1, seconds) + field_varint(2, nanos)
    pairs = b"".join(
        field_bytes(3, field_bytes(1, name.encode()) + field_bytes(2, value.encode()))
        for name, value in (metadata or {}).items()
    )
    return field_bytes(1, timestamp) + field_bytes(2, line.encode()) + pairs


def push_request(*streams: tuple[str, list[bytes]]) -> bytes:
    body = b"".join(
        field_bytes(
            1, field_bytes(1, labels.encode()) + b"".join(field_bytes(2, e) for e in entries) + field_varint(3, 99)
        )
        for labels, entries in streams
    )
    return bytes(cramjam.snappy.compress_raw(body))


# --- JSON ------------------------------------------------------------------------------------

JSON_BODY = json.dumps(
    {
        "streams": [
            {"stream": {"job": "app", "level": "info"}, "values": [["1700000000000000001", "hello"]]},
            {"stream": {"job": "app"}, "values": [["1700000000000000002", "traced", {"trace_id": "abc"}]]},
        ]
    }
).encode()
JSON_STREAMS = [
    PushStream({"job": "app", "level": "info"}, (PushEntry(1700000000000000001, "hello"),)),
    PushStream({"job": "app"}, (PushEntry(1700000000000000002, "traced", {"trace_id": "abc"}),)),
]


def test_json_streams_entries_and_structured_metadata_are_decoded() -> None:
    assert decode_push(JSON_BODY, "application/json", None) == JSON_STREAMS


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        # Go clients send raw DEFLATE under "deflate".
        ("deflate", lambda data: zlib.compress(data, wbits=-15)),
    ],
)
def test_compressed_json_is_decoded(encoding: str, compress: object) -> None:
    assert callable(compress)
    body = compress(JSON_BODY)
    assert decode_push(body, "application/json; charset=utf-8", encoding) == JSON_STREAMS


def test_the_recorded_push_bodies_decode_to_their_six_streams() -> None:
    counts = {}
    for service in ("checkout", "payments"):
        for pushed in decode_push((FIXTURES / f"push_body_{service}.json").read_bytes(), "application/json", None):
            counts[(pushed.labels["service"], pushed.labels["level"])] = len(pushed.entries)
    assert sum(counts.values()) == 689
    assert counts[("checkout", "error")] == 57
    assert counts[("payments", "info")] == 291


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"streams": [', "not valid JSON"),
        (b"[]", 'no "streams" list'),
        (
            b'{"streams":[{"stream":{"service":"checkout"},"values":[["not-a-timestamp","hello"]]}]}',
            r'streams\[0\]\.values\[0\]: the timestamp "not-a-timestamp" is not Unix nanoseconds',
        ),
        (b'{"streams":[{"stream":{"a":"b"},"values":[[1700000000000000000,"x"]]}]}', "not Unix nanoseconds"),
        (b'{"streams":[{"stream":{"a":"b"},"values":[["1","x","y","z"]]}]}', r"values\[0\] must be"),
        (b'{"streams":[{"stream":{"a":1},"values":[]}]}', "must be an object of string labels"),
        (b'{"streams":[{"stream":{"a":"b"},"values":[["1",5]]}]}', "log line 5 is not a string"),
        (b'{"streams":[{"stream":{"a":"b"},"values":[["1","x",{"k":1}]]}]}', "structured metadata must be"),
    ],
)
def test_malformed_json_bodies_say_what_is_wrong_and_where(body: bytes, expected: str) -> None:
    with pytest.raises(InputError, match=expected):
        decode_push(body, "application/json", None)


def test_bad_compression_and_unknown_headers_are_refused() -> None:
    with pytest.raises(InputError, match="not valid gzip"):
        decode_push(JSON_BODY, "application/json", "gzip")
    with pytest.raises(InputError, match="truncated"):
        decode_push(gzip.compress(JSON_BODY)[:-20], "application/json", "gzip")
    with pytest.raises(InputError, match="unsupported Content-Encoding 'br'"):
        decode_push(JSON_BODY, "application/json", "br")
    with pytest.raises(InputError, match="unsupported Content-Type 'text/plain'"):
        decode_push(JSON_BODY, "text/plain", None)


# --- protobuf --------------------------------------------------------------------------------


def test_snappy_protobuf_is_decoded_with_labels_times_and_metadata() -> None:
    body = push_request(
        (
            '{job="app", level="error"}',
            [entry(1700000000, 5, "boom", {"trace_id": "t1"}), entry(1700000001, 0, "again")],
        ),
        ('{job="other"}', [entry(1, 999_999_999, "é ünïcode")]),
    )
    assert decode_push(body, "application/x-protobuf", None) == [
        PushStream(
            {"job": "app", "level": "error"},
            (
                PushEntry(1700000000_000000005, "boom", {"trace_id": "t1"}),
                PushEntry(1700000001_000000000, "again"),
            ),
        ),
        PushStream({"job": "other"}, (PushEntry(1_999_999_999, "é ünïcode"),)),
    ]


def test_protobuf_is_the_default_without_a_content_type() -> None:
    body = push_request(('{job="app"}', [entry(1, 0, "x")]))
    assert decode_push(body, None, None) == [PushStream({"job": "app"}, (PushEntry(1_000_000_000, "x"),))]


def test_protobuf_lines_that_are_not_utf8_are_kept_with_replacement_characters() -> None:
    raw = field_bytes(1, field_varint(1, 1)) + field_bytes(2, b"bad \xff byte")
    body = bytes(cramjam.snappy.compress_raw(field_bytes(1, field_bytes(1, b'{a="b"}') + field_bytes(2, raw))))
    assert decode_push(body, "application/x-protobuf", None)[0].entries[0].line == "bad \ufffd byte"


def test_a_body_that_is_not_snappy_or_not_protobuf_is_refused() -> None:
    with pytest.raises(InputError, match="not snappy-compressed"):
        decode_push(b"\xff\xff\xff\xff garbage", "application/x-protobuf", None)
    # Valid snappy, but field 1 claims more bytes than there are.
    with pytest.raises(InputError, match="not a Loki PushRequest"):
        decode_push(bytes(cramjam.snappy.compress_raw(b"\x0a\x50abc")), "application/x-protobuf", None)


def test_protobuf_labels_that_do_not_parse_name_the_stream() -> None:
    body = push_request(('{job="app" level="x"}', [entry(1, 0, "x")]))
    with pytest.raises(InputError, match=r"streams\[0\]\.labels .* expected , or \}"):
        decode_push(body, "application/x-protobuf", None)


# --- label-set text --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{job="app"}', {"job": "app"}),
        ('{ a = "1" ,b="2", }', {"a": "1", "b": "2"}),
        (r'{msg="say \"hi\", then {go} a=b", path="C:\\tmp"}', {"msg": 'say "hi", then {go} a=b', "path": "C:\\tmp"}),
        (r'{nl="a\nb\tc", u="\u00e9"}', {"nl": "a\nb\tc", "u": "é"}),
        ("{}", {}),
    ],
)
def test_label_sets_parse_with_escapes(text: str, expected: dict[str, str]) -> None:
    assert parse_label_set(text) == expected


@pytest.mark.parametrize("text", ['job="app"', "{job=app}", '{job="app"', '{job="a" x="b"}', '{job="a",,}'])
def test_malformed_label_sets_are_refused(text: str) -> None:
    with pytest.raises(InputError, match="couldn't parse labels"):
        parse_label_set(text)
