"""Loki push bodies (`POST /loki/api/v1/push`) decoded into `PushStream`s.

Two encodings, as Loki takes them:
- JSON (`application/json`): `{"streams": [{"stream": {labels}, "values": [["<ns>", "line"],
  ["<ns>", "line", {structured metadata}]]}]}`.
- Protobuf (`application/x-protobuf`, or no Content-Type, as Promtail and Grafana Alloy send it):
  Loki's `logproto.PushRequest` compressed with snappy's block format. The message types are
  built here from descriptors, so there is no generated code to keep in step. Strings are read
  as bytes and decoded leniently, since Go, which writes them, does not require UTF-8.
Either may also be gzip- or deflate-compressed (`Content-Encoding`).

A body that cannot be read raises InputError whose message says what is wrong and where, as
Loki's 400 answers do; so does a timestamp outside 1970..2262 (int64 nanoseconds). Label names
are checked by the store, not here.
"""

from __future__ import annotations

import json
import re
import zlib
from typing import Any

import cramjam

# protobuf ships no type stubs, and this project does not add types-protobuf for one module.
from google.protobuf import timestamp_pb2  # type: ignore[import-untyped]
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

from common.errors import InputError
from common.protobuf_schema import message_classes
from common.timerange import check_unix_ns
from servers.loki_mcp.models import PushEntry, PushStream

__all__ = ["MAX_BODY_BYTES", "decode_push", "parse_label_set"]

MAX_BODY_BYTES = 64 * 1024 * 1024
"""The default of the most a push body may hold once decompressed; a larger one is refused, not read."""

_FORMAT_HELP = (
    'Send application/json ({"streams": [{"stream": {"job": "app"}, "values": [["<unix ns>", "line"]]}]}) '
    "or snappy-compressed protobuf (application/x-protobuf) as Promtail and Alloy do."
)


def decode_push(
    body: bytes, content_type: str | None, content_encoding: str | None, *, max_bytes: int = MAX_BODY_BYTES
) -> list[PushStream]:
    """The streams of one push request, in the order sent. Raises InputError for a body Loki would refuse.

    `max_bytes` bounds the body once decompressed: a small gzip body can expand a thousandfold.
    """
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type not in ("", "application/json", "application/x-protobuf"):
        raise InputError(f"unsupported Content-Type {content_type!r}. {_FORMAT_HELP}")
    body = _decompress(body, (content_encoding or "").strip().lower(), max_bytes)
    if len(body) > max_bytes:
        raise InputError(_too_large(max_bytes))
    if media_type == "application/json":
        return _decode_json(body)
    return _decode_protobuf(body, max_bytes)


def _decompress(body: bytes, encoding: str, max_bytes: int) -> bytes:
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise InputError(f"unsupported Content-Encoding {encoding!r}: send the body uncompressed, gzip or deflate.")
    # HTTP's "deflate" is zlib-wrapped, but Go clients (and Loki's own reader) use raw DEFLATE:
    # take both. 16 + MAX_WBITS reads the gzip header.
    attempts = [16 + zlib.MAX_WBITS] if encoding != "deflate" else [zlib.MAX_WBITS, -zlib.MAX_WBITS]
    for wbits in attempts:
        reader = zlib.decompressobj(wbits)
        try:
            data = reader.decompress(body, max_bytes + 1)
        except zlib.error as exc:
            problem = str(exc)
            continue
        if len(data) > max_bytes:
            raise InputError(_too_large(max_bytes))
        if not reader.eof:
            problem = "the compressed data is truncated"
            continue
        return data
    raise InputError(f"the body is not valid {encoding} data ({problem}); compress it whole, or drop Content-Encoding.")


def _too_large(max_bytes: int) -> str:
    return (
        f"the push body is over {max_bytes} bytes once decompressed (LOKI_MCP_LOCAL_MAX_PUSH_BYTES); "
        "send it in smaller batches."
    )


# --- JSON --------------------------------------------------------------------------------------


def _decode_json(body: bytes) -> list[PushStream]:
    try:
        data = json.loads(body)
    except ValueError as exc:  # JSONDecodeError, or bytes that are not UTF-8
        raise InputError(f"the push body is not valid JSON: {exc}. {_FORMAT_HELP}") from exc
    streams = data.get("streams") if isinstance(data, dict) else None
    if not isinstance(streams, list):
        raise InputError(f'the push body has no "streams" list. {_FORMAT_HELP}')
    return [_json_stream(item, f"streams[{index}]") for index, item in enumerate(streams)]


def _json_stream(item: Any, where: str) -> PushStream:
    if not isinstance(item, dict):
        raise InputError(f'{where} is not an object with "stream" and "values". {_FORMAT_HELP}')
    labels = item.get("stream", {})
    if not isinstance(labels, dict) or not all(isinstance(value, str) for value in labels.values()):
        raise InputError(f'{where}.stream must be an object of string labels, e.g. {{"job": "app"}}.')
    values = item.get("values", [])
    if not isinstance(values, list):
        raise InputError(f'{where}.values must be a list of ["<unix ns>", "line"] pairs.')
    return PushStream(
        labels=labels, entries=tuple(_json_entry(value, f"{where}.values[{n}]") for n, value in enumerate(values))
    )


def _json_entry(value: Any, where: str) -> PushEntry:
    if not isinstance(value, list) or len(value) not in (2, 3):
        raise InputError(
            f'{where} must be ["<unix ns>", "line"] or ["<unix ns>", "line", {{metadata}}], not {_short(value)}.'
        )
    timestamp, line = value[0], value[1]
    if not isinstance(timestamp, str) or not timestamp.lstrip("-").isdigit() or not timestamp.isascii():
        raise InputError(
            f"{where}: the timestamp {_short(timestamp)} is not Unix nanoseconds as a string, "
            'e.g. "1700000000000000000".'
        )
    if not isinstance(line, str):
        raise InputError(f"{where}: the log line {_short(line)} is not a string.")
    metadata = value[2] if len(value) == 3 else {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise InputError(f'{where}: structured metadata must be an object of strings, e.g. {{"trace_id": "abc"}}.')
    timestamp_ns = check_unix_ns(int(timestamp), f"{where}: the timestamp")
    return PushEntry(timestamp_ns=timestamp_ns, line=line, structured_metadata=metadata)


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- protobuf ----------------------------------------------------------------------------------


# Loki's push.proto: field numbers and wire types as Loki has them.
_PushRequest = message_classes(
    "logproto",
    {
        "PushRequest": [("streams", 1, "message", ".logproto.StreamAdapter", True)],
        "StreamAdapter": [
            ("labels", 1, "bytes", None, False),
            ("entries", 2, "message", ".logproto.EntryAdapter", True),
            ("hash", 3, "uint64", None, False),
        ],
        "EntryAdapter": [
            ("timestamp", 1, "message", ".google.protobuf.Timestamp", False),
            ("line", 2, "bytes", None, False),
            ("structuredMetadata", 3, "message", ".logproto.LabelPairAdapter", True),
        ],
        "LabelPairAdapter": [("name", 1, "bytes", None, False), ("value", 2, "bytes", None, False)],
    },
    dependencies=[timestamp_pb2.DESCRIPTOR],
)["PushRequest"]


def _decode_protobuf(body: bytes, max_bytes: int) -> list[PushStream]:
    try:
        size = cramjam.snappy.decompress_raw_len(body)
        if size > max_bytes:
            raise InputError(_too_large(max_bytes))
        raw = bytes(cramjam.snappy.decompress_raw(body))
    except cramjam.DecompressionError as exc:
        raise InputError(
            f"the push body is not snappy-compressed (block format) protobuf: {exc}. {_FORMAT_HELP}"
        ) from exc
    request: Any = _PushRequest()
    try:
        request.ParseFromString(raw)
    except DecodeError as exc:
        raise InputError(f"the push body is not a Loki PushRequest protobuf: {exc}. {_FORMAT_HELP}") from exc
    streams = []
    for index, stream in enumerate(request.streams):
        labels = parse_label_set(stream.labels.decode("utf-8", "replace"), where=f"streams[{index}].labels")
        entries = tuple(
            PushEntry(
                timestamp_ns=check_unix_ns(
                    entry.timestamp.seconds * 1_000_000_000 + entry.timestamp.nanos,
                    f"streams[{index}].entries[{number}]: the timestamp",
                ),
                line=entry.line.decode("utf-8", "replace"),
                structured_metadata={
                    pair.name.decode("utf-8", "replace"): pair.value.decode("utf-8", "replace")
                    for pair in entry.structuredMetadata
                },
            )
            for number, entry in enumerate(stream.entries)
        )
        streams.append(PushStream(labels=labels, entries=entries))
    return streams


# --- label-set text ----------------------------------------------------------------------------

_PAIR = re.compile(r'\s*([^\s=,{}"]+)\s*=\s*"((?:[^"\\]|\\.)*)"', re.DOTALL)
_SEPARATOR = re.compile(r"\s*(?:,|$)")
_ESCAPE = re.compile(r"\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)", re.DOTALL)
_LABELS_HELP = 'Write labels as {name="value", other="value"}, quoting values and escaping " and \\ with \\.'
_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def parse_label_set(text: str, *, where: str = "labels") -> dict[str, str]:
    """`{a="b", c="d"}` (Prometheus's label-set text, values Go-quoted) as a dict.

    A label's name is returned as written, valid or not, for the store to judge; anything else
    that is not `name="value"` pairs in braces raises InputError.
    """
    body = text.strip()
    if not (body.startswith("{") and body.endswith("}")):
        raise InputError(f'couldn\'t parse labels: {where} is {text!r}, not a label set such as {{job="app"}}.')
    labels: dict[str, str] = {}
    position, end = 1, len(body) - 1
    while position < end:
        if not body[position:end].strip():
            break
        found = _PAIR.match(body, position, end)
        if found is None:
            raise InputError(
                f'couldn\'t parse labels: {where} is {text!r}; expected name="value" at character '
                f"{position + 1}. {_LABELS_HELP}"
            )
        labels[found[1]] = _ESCAPE.sub(_unescape, found[2])
        separator = _SEPARATOR.match(body, found.end(), end)
        if separator is None:
            raise InputError(
                f"couldn't parse labels: {where} is {text!r}; expected , or }} at character "
                f"{found.end() + 1}. {_LABELS_HELP}"
            )
        position = separator.end()
    return labels


def _unescape(found: re.Match[str]) -> str:
    escape = found[0][1:]
    if escape[0] == "x":
        # Go writes \x only for bytes that are not UTF-8: read as Loki stores them, replaced.
        code = int(escape[1:], 16)
        return chr(code) if code < 0x80 else "\ufffd"
    if escape[0] in "uU":
        return chr(int(escape[1:], 16))
    if escape[0] in "01234567" and len(escape) == 3:
        return chr(int(escape, 8))
    return _SIMPLE_ESCAPES.get(escape, escape)
