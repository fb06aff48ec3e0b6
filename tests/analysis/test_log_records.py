"""Format sniffing and per-line time, level and message of log records."""

from __future__ import annotations

import pytest

from analysis.log_records import (
    json_message,
    logfmt_message,
    message_of,
    parse_records,
    parse_time,
    sniff_format,
)
from common.errors import InputError

T0 = 1714557600_000000000  # 2024-05-01T10:00:00Z


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (['{"msg": "a"}', "", '{"msg": "b"}'], "jsonl"),
        (["level=info msg=a", 'level=warn msg="b c"'], "logfmt"),
        (["time,level,msg", "2024-05-01T10:00:00Z,info,hello", '1714557600,warn,"a, b"'], "csv"),
        (["2024-05-01 10:00:00 INFO started", "plain text, with a comma"], "plain"),
        (["name with space,other", "a,b"], "plain"),
        (["just one line, with a comma"], "plain"),
        ([], "plain"),
    ],
)
def test_sniff_format_picks_the_format_every_line_fits(lines: list[str], expected: str) -> None:
    assert sniff_format(lines) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T10:00:00Z", T0),
        ("2024-05-01T10:00:00.123456789Z", T0 + 123456789),
        ("2024-05-01T12:00:00+02:00", T0),
        ("2024-05-01T05:30:00-0430", T0),
        ("2024-05-01 10:00:00.5", T0 + 500_000_000),
        ("2024-05-01 10:00:00,250", T0 + 250_000_000),
        (1714557600, T0),
        (1714557600.25, T0 + 250_000_000),
        ("1714557600123", T0 + 123_000_000),
        (1714557600123456, T0 + 123_456_000),
        ("1714557600000000007", T0 + 7),
        ("not a time", None),
        ("2024-13-01T00:00:00Z", None),
        (True, None),
        (None, None),
    ],
)
def test_parse_time_reads_rfc3339_and_epoch_units(value: object, expected: int | None) -> None:
    assert parse_time(value) == expected


def records(lines: list[str], fmt: str, strict: bool = False) -> list[tuple[int, str, int | None, str | None]]:
    return [
        (r.number, r.line, r.timestamp_ns, r.level)
        for r in parse_records(lines, fmt, year=2024, strict=strict, source="app.log", hint="Do X.")  # type: ignore[arg-type]
    ]


def test_jsonl_records_take_time_and_level_fields_and_keep_the_line() -> None:
    line = '{"@timestamp": "2024-05-01T10:00:00Z", "severity": "WARNING", "msg": "slow"}'
    assert records([line, "", '{"msg": "no time"}'], "jsonl") == [
        (1, line, T0, "warn"),
        (3, '{"msg": "no time"}', None, None),
    ]


def test_logfmt_records_take_ts_and_lvl() -> None:
    assert records(["ts=1714557600 lvl=ERR msg=boom"], "logfmt") == [(1, "ts=1714557600 lvl=ERR msg=boom", T0, "error")]


def test_plain_records_take_a_leading_time_and_a_level_word() -> None:
    assert records(
        [
            "2024-05-01T10:00:00Z ERROR boom",
            "[2024-05-01 10:00:00.5] [warn] disk",
            "May  1 10:00:00 host sshd[42]: Accepted key",
            "    at Foo.bar(Foo.java:42)",
        ],
        "plain",
    ) == [
        (1, "2024-05-01T10:00:00Z ERROR boom", T0, "error"),
        (2, "[2024-05-01 10:00:00.5] [warn] disk", T0 + 500_000_000, "warn"),
        (3, "May  1 10:00:00 host sshd[42]: Accepted key", T0, None),
        (4, "    at Foo.bar(Foo.java:42)", None, None),
    ]


def test_csv_rows_become_logfmt_lines_numbered_by_their_first_line() -> None:
    rows = ["time,level,msg\n", '2024-05-01T10:00:00Z,error,"a, ""quoted"" b"\n', '1714557600,info,"two\n', 'lines"\n']
    got = records(rows, "csv")
    assert got == [
        (2, 'time=2024-05-01T10:00:00Z level=error msg="a, \\"quoted\\" b"', T0, "error"),
        (3, 'time=1714557600 level=info msg="two\\nlines"', T0, "info"),
    ]


@pytest.mark.parametrize(
    ("lines", "fmt", "expected"),
    [
        (['{"a": 1}', "not json"], "jsonl", r"app.log, line 2, is not a JSON object \(format jsonl\). Do X."),
        (["a=1 b=2", "no pairs here"], "logfmt", "line 2, is not key=value pairs"),
        (["a,b", "1,2", "1,2,3"], "csv", "line 3, has 3 fields where the header has 2"),
    ],
)
def test_a_line_that_does_not_fit_an_explicit_format_names_file_and_line(
    lines: list[str], fmt: str, expected: str
) -> None:
    with pytest.raises(InputError, match=expected):
        records(lines, fmt, strict=True)


def test_without_strict_a_misfit_line_is_read_as_plain() -> None:
    assert records(['{"a": 1}', "2024-05-01T10:00:00Z ERROR x"], "jsonl") == [
        (1, '{"a": 1}', None, None),
        (2, "2024-05-01T10:00:00Z ERROR x", T0, "error"),
    ]


def test_messages_for_template_mining() -> None:
    assert json_message('{"message": "hi", "msg": null}') == "hi"
    assert json_message('{"msg": {"nested": 1}}') == '{"nested": 1}'
    assert json_message("nope") is None
    assert logfmt_message('level=info msg="hi there"') == "hi there"
    assert logfmt_message("level=info a=b") == "level=info a=b"


def test_message_of_reads_each_line_in_its_own_format() -> None:
    assert message_of('{"msg": "from json"}') == "from json"
    assert message_of('level=info msg="from logfmt"') == "from logfmt"
    assert message_of("plain text with one a=b pair") == "plain text with one a=b pair"
