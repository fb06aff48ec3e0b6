"""The LogQL subset parser: what it reads, where it reports syntax errors, what it names as unsupported."""

from __future__ import annotations

import pytest

from common.errors import InputError
from servers.loki_mcp.local.records import Matcher
from servers.loki_mcp.logql import (
    EMPTY_MATCHER_MESSAGE,
    Grouping,
    LabelAnd,
    LabelCompare,
    LabelOr,
    LineFilter,
    LogQuery,
    NumericCompare,
    Parser,
    RangeAggregation,
    UnsupportedQuery,
    VectorAggregation,
    parse,
)

APP = (Matcher("app", "=", "api"),)
FIVE_MINUTES = 300 * 10**9


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('{app="api"}', LogQuery(APP)),
        (
            '{app="api", env!="dev", pod=~"api-.+", zone!~"eu.*"}',
            LogQuery(
                (*APP, Matcher("env", "!=", "dev"), Matcher("pod", "=~", "api-.+"), Matcher("zone", "!~", "eu.*"))
            ),
        ),
        (
            '{app="api"} |= "error" != `debug` |~ "time(out)?" !~ "health\\\\w+"',
            LogQuery(
                APP,
                (
                    LineFilter("|=", "error"),
                    LineFilter("!=", "debug"),
                    LineFilter("|~", "time(out)?"),
                    LineFilter("!~", "health\\w+"),
                ),
            ),
        ),
        ('{app="api"} |= "tab\\there \\"q\\" \\u00e9\\x41"', LogQuery(APP, (LineFilter("|=", 'tab\there "q" éA'),))),
        (
            '{app="api"} | json | status >= 500 | __error__=""',
            LogQuery(
                APP,
                (
                    Parser("json"),
                    NumericCompare("status", ">=", 500.0, "number"),
                    LabelCompare(Matcher("__error__", "=", "")),
                ),
            ),
        ),
        (
            '{app="api"} | logfmt | level="error" or latency > 250ms and size <= 1KiB, code != -1',
            LogQuery(
                APP,
                (
                    Parser("logfmt"),
                    LabelOr(
                        LabelCompare(Matcher("level", "=", "error")),
                        LabelAnd(
                            LabelAnd(
                                NumericCompare("latency", ">", 0.25, "duration"),
                                NumericCompare("size", "<=", 1024.0, "bytes"),
                            ),
                            NumericCompare("code", "!=", -1.0, "number"),
                        ),
                    ),
                ),
            ),
        ),
        (
            '{app="api"} | (a="1" or b=~"x.*") and c==2',
            LogQuery(
                APP,
                (
                    LabelAnd(
                        LabelOr(LabelCompare(Matcher("a", "=", "1")), LabelCompare(Matcher("b", "=~", "x.*"))),
                        NumericCompare("c", "==", 2.0, "number"),
                    ),
                ),
            ),
        ),
        ('count_over_time({app="api"}[5m])', RangeAggregation("count_over_time", LogQuery(APP), FIVE_MINUTES)),
        (
            'rate({app="api"} |= "x" [5m])',
            RangeAggregation("rate", LogQuery(APP, (LineFilter("|=", "x"),)), FIVE_MINUTES),
        ),
        (
            'bytes_rate({app="api"}[5m] | json)',
            RangeAggregation("bytes_rate", LogQuery(APP, (Parser("json"),)), FIVE_MINUTES),
        ),
        ('bytes_over_time({app="api"}[1h30m])', RangeAggregation("bytes_over_time", LogQuery(APP), 5400 * 10**9)),
        (
            'sum by (level) (count_over_time({app="api"}[5m]))',
            VectorAggregation(
                "sum", RangeAggregation("count_over_time", LogQuery(APP), FIVE_MINUTES), Grouping(False, ("level",))
            ),
        ),
        (
            'avg(rate({app="api"}[5m])) without (pod, instance)',
            VectorAggregation(
                "avg", RangeAggregation("rate", LogQuery(APP), FIVE_MINUTES), Grouping(True, ("pod", "instance"))
            ),
        ),
        (
            'topk(3, sum by (svc) (rate({app="api"}[5m])))',
            VectorAggregation(
                "topk",
                VectorAggregation(
                    "sum", RangeAggregation("rate", LogQuery(APP), FIVE_MINUTES), Grouping(False, ("svc",))
                ),
                None,
                3,
            ),
        ),
        (
            'bottomk by (a) (2, (count_over_time({app="api"}[5m])))',
            VectorAggregation(
                "bottomk", RangeAggregation("count_over_time", LogQuery(APP), FIVE_MINUTES), Grouping(False, ("a",)), 2
            ),
        ),
    ],
)
def test_parse_reads_the_supported_subset(query: str, expected: object) -> None:
    assert parse(query) == expected


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ('{service="checkout"} |= ', "parse error at line 1, col 25: syntax error: unexpected $end, expecting STRING"),
        (
            'sum by (level) count_over_time({namespace="prod"}[5m])',
            "parse error at line 1, col 16: syntax error: unexpected COUNT_OVER_TIME, expecting (",
        ),
        ('{app="api"', "parse error at line 1, col 11: syntax error: unexpected $end, expecting }"),
        ("{}", "parse error at line 1, col 2: syntax error: unexpected }, expecting IDENTIFIER"),
        ('{app="api"}\n  | json |', "parse error at line 2, col 11: syntax error: unexpected $end"),
        ('count_over_time({app="api"})', "parse error at line 1, col 28: syntax error: unexpected ), expecting ["),
        (
            '{app="api"} |~ "(unclosed"',
            "parse error at line 1, col 16: The regular expression '(unclosed' of the line filter |~ is not valid",
        ),
        ('{app="api"} |= "bad \\q"', "parse error at line 1, col 16: invalid escape sequence"),
        (
            '{app="api"} | status =~ 5',
            "parse error at line 1, col 25: syntax error: unexpected NUMBER, expecting STRING",
        ),
        ('{app="api"} $', "parse error at line 1, col 13: syntax error: unexpected character '$'"),
    ],
)
def test_parse_reports_syntax_errors_with_their_position(query: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse(query)
    assert str(caught.value).startswith(message)
    assert not isinstance(caught.value, UnsupportedQuery)


@pytest.mark.parametrize("query", ['{app=~".*"}', '{app=""}', '{app!="x"}', '{a=~".*", b!~"y"}'])
def test_parse_refuses_selectors_that_match_everything(query: str) -> None:
    with pytest.raises(InputError, match="at least one regexp or equality matcher") as caught:
        parse(query)
    assert str(caught.value) == EMPTY_MATCHER_MESSAGE


@pytest.mark.parametrize(
    ("query", "construct"),
    [
        ('{a="b"} | logfmt | line_format "{{.exception}}"', "`| line_format`"),
        ('{a="b"} | label_format x=y', "`| label_format`"),
        ('sum_over_time({a="b"} | json | unwrap d [5m])', "`sum_over_time()`"),
        ('count_over_time({a="b"} | json | unwrap d [5m])', "`| unwrap`"),
        ('quantile_over_time(0.95, {a="b"} | json | unwrap d [10m]) by (path)', "`quantile_over_time()`"),
        ("vector(1)+1", "`vector()`"),
        ('sum(rate({a="b"}[5m])) / 2', "binary operator `/`"),
        ('count_over_time({a="b"}[5m]) > 1', "binary operator `>`"),
        ('count_over_time({a="b"}[5m] offset 1h)', "`offset`"),
        ('{a="b"} | pattern "<ip> <_>"', "`| pattern`"),
        ('{a="b"} | regexp "(?P<x>.*)"', "`| regexp`"),
        ('{a="b"} | decolorize', "`| decolorize`"),
        ('{a="b"} | drop x', "`| drop`"),
        ('{a="b"} | keep x', "`| keep`"),
        ('{a="b"} | json x="y"', "`| json` with parameters"),
        ('{a="b"} | logfmt --strict', "`| logfmt` with parameters"),
        ('{a="b"} |> "<_> error"', "pattern line filter `|>`"),
        ('{a="b"} |= ip("10.0.0.0/8")', "`ip()`"),
        ('{a="b"} |= "x" or "y"', "`or` between line filters"),
        ("1", "number literal"),
    ],
)
def test_parse_names_constructs_outside_the_subset(query: str, construct: str) -> None:
    with pytest.raises(UnsupportedQuery) as caught:
        parse(query)
    message = str(caught.value)
    assert construct in message
    assert "embedded log store" in message
    assert "LOKI_URL" in message
    assert "count_over_time" in message  # the supported subset is listed


def test_parse_refuses_grouping_on_a_range_aggregation_as_loki_does() -> None:
    with pytest.raises(InputError, match="grouping not allowed for count_over_time aggregation"):
        parse('count_over_time({a="b"}[5m]) by (x)')
