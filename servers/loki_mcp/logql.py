"""The subset of LogQL the embedded log store answers, parsed to an immutable syntax tree.

    parse('sum by (level) (count_over_time({app="api"} |= "error" | json | status >= 500 [5m]))')

Supported: stream selectors; line filters `|= != |~ !~`; `| json` and `| logfmt` without
parameters; label filters (string `= != =~ !~`, numeric `== != > >= < <=` on numbers, durations
and byte sizes, combined with `and`, `or`, `,` and parentheses); `count_over_time`, `rate`,
`bytes_over_time`, `bytes_rate`; `sum avg min max count` with `by`/`without`; `topk`, `bottomk`.

Errors follow Loki's wording so that a message reads the same whatever serves the API: a syntax
error is `parse error at line L, col C: syntax error: unexpected X, expecting Y` (an `InputError`),
a construct outside the subset raises `UnsupportedQuery`, which names it and points to a real Loki.

One module past 400 lines: a recursive-descent parser of one grammar, read top to bottom.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast

from common.errors import InputError
from common.regex import compile_user_regex
from servers.loki_mcp.local.records import Matcher, MatchOp
from servers.loki_mcp.logql_lexer import Token, parse_bytes, parse_duration_ns, syntax_error, tokenize, unquote

__all__ = [
    "EMPTY_MATCHER_MESSAGE",
    "Expr",
    "Grouping",
    "LabelAnd",
    "LabelCompare",
    "LabelFilter",
    "LabelOr",
    "LineFilter",
    "LogQuery",
    "MetricExpr",
    "NumericCompare",
    "Parser",
    "RangeAggregation",
    "Stage",
    "UnsupportedQuery",
    "VectorAggregation",
    "parse",
    "parse_bytes",
    "parse_duration_ns",
]

EMPTY_MATCHER_MESSAGE = (
    "parse error : queries require at least one regexp or equality matcher that does not have an "
    'empty-compatible value. For instance, app=~".*" does not meet this requirement, but app=~".+" will'
)
SUBSET = (
    "stream selectors, line filters (|= != |~ !~), | json, | logfmt, label filters, count_over_time, rate, "
    "bytes_over_time, bytes_rate, and sum/avg/min/max/count/topk/bottomk with by/without"
)

LineOp = Literal["|=", "!=", "|~", "!~"]
NumericOp = Literal["==", "!=", ">", ">=", "<", "<="]
RangeOp = Literal["count_over_time", "rate", "bytes_over_time", "bytes_rate"]
VectorOp = Literal["sum", "avg", "max", "min", "count", "topk", "bottomk"]
Unit = Literal["number", "duration", "bytes"]

RANGE_OPS: tuple[RangeOp, ...] = ("count_over_time", "rate", "bytes_over_time", "bytes_rate")
VECTOR_OPS: tuple[VectorOp, ...] = ("sum", "avg", "max", "min", "count", "topk", "bottomk")
_UNSUPPORTED_FUNCTIONS = frozenset(
    [
        *("sum_over_time", "avg_over_time", "max_over_time", "min_over_time", "stdvar_over_time"),
        *("stddev_over_time", "quantile_over_time", "first_over_time", "last_over_time", "absent_over_time"),
        *("rate_counter", "stddev", "stdvar", "sort", "sort_desc", "approx_topk", "vector", "label_replace"),
    ]
)
_UNSUPPORTED_STAGES = frozenset(
    ["line_format", "label_format", "unwrap", "pattern", "regexp", "decolorize", "drop", "keep", "unpack", "distinct"]
)
_BINARY_OPERATORS = frozenset(["+", "-", "*", "/", "%", "^", "==", "!=", ">", ">=", "<", "<=", "and", "or", "unless"])


class UnsupportedQuery(InputError):
    """Valid LogQL that the embedded store does not evaluate; a real Loki does."""

    def __init__(self, construct: str) -> None:
        super().__init__(
            f"{construct} is not supported by the embedded log store, which answers a subset of LogQL "
            f"({SUBSET}). Point loki-mcp at a real Loki (LOKI_URL) for the full language."
        )
        self.construct = construct


@dataclass(frozen=True)
class LineFilter:
    op: LineOp
    value: str


@dataclass(frozen=True)
class Parser:
    kind: Literal["json", "logfmt"]


@dataclass(frozen=True)
class LabelCompare:
    """A string comparison; a missing label reads as "" (Loki's matcher semantics)."""

    matcher: Matcher


@dataclass(frozen=True)
class NumericCompare:
    """A numeric comparison; `value` is seconds for durations and bytes for byte sizes."""

    name: str
    op: NumericOp
    value: float
    unit: Unit


@dataclass(frozen=True)
class LabelAnd:
    left: LabelFilter
    right: LabelFilter


@dataclass(frozen=True)
class LabelOr:
    left: LabelFilter
    right: LabelFilter


LabelFilter = LabelCompare | NumericCompare | LabelAnd | LabelOr
Stage = LineFilter | Parser | LabelFilter


@dataclass(frozen=True)
class LogQuery:
    matchers: tuple[Matcher, ...]
    pipeline: tuple[Stage, ...] = ()


@dataclass(frozen=True)
class RangeAggregation:
    op: RangeOp
    query: LogQuery
    range_ns: int


@dataclass(frozen=True)
class Grouping:
    without: bool
    labels: tuple[str, ...]


@dataclass(frozen=True)
class VectorAggregation:
    op: VectorOp
    inner: MetricExpr
    grouping: Grouping | None = None
    param: int | None = None


MetricExpr = RangeAggregation | VectorAggregation
Expr = LogQuery | MetricExpr

# --- parser --------------------------------------------------------------------------------------


def parse(query: str) -> Expr:
    """The syntax tree of `query`; InputError (or UnsupportedQuery) if it is not in the subset."""
    return _Parser(query).parse()


class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.tokens = tokenize(query)
        self.index = 0

    @property
    def peek(self) -> Token:
        return self.tokens[self.index]

    def next(self) -> Token:
        token = self.tokens[self.index]
        self.index = min(self.index + 1, len(self.tokens) - 1)
        return token

    def error(self, expecting: str, token: Token | None = None) -> InputError:
        token = token or self.peek
        return syntax_error(self.query, token.pos, f"syntax error: unexpected {_shown(token)}, expecting {expecting}")

    def expect(self, text: str) -> Token:
        if not self.peek.is_(text):
            raise self.error(text)
        return self.next()

    def parse(self) -> Expr:
        expr = self.expr()
        if self.peek.text in _BINARY_OPERATORS and self.peek.kind != "STRING":
            raise UnsupportedQuery(f"The binary operator `{self.peek.text}`")
        if self.peek.kind != "EOF":
            raise self.error("end of query")
        return expr

    def expr(self) -> Expr:
        token = self.peek
        if token.is_("{"):
            return self.log_query()
        if token.is_("("):
            self.next()
            inner = self.expr()
            self.expect(")")
            return inner
        return self.metric_expr()

    def metric_expr(self) -> MetricExpr:
        token = self.peek
        if token.is_("("):
            self.next()
            inner = self.metric_expr()
            self.expect(")")
            return inner
        if token.kind == "IDENTIFIER" and token.text in RANGE_OPS:
            return self.range_aggregation()
        if token.kind == "IDENTIFIER" and token.text in VECTOR_OPS:
            return self.vector_aggregation()
        if token.kind == "IDENTIFIER" and token.text in _UNSUPPORTED_FUNCTIONS:
            raise UnsupportedQuery(f"`{token.text}()`")
        if token.kind == "NUMBER":
            raise UnsupportedQuery("A number literal (scalar and binary expressions)")
        raise self.error("{ or a metric aggregation")

    def log_query(self) -> LogQuery:
        matchers = self.selector()
        return LogQuery(matchers, self.pipeline())

    def selector(self) -> tuple[Matcher, ...]:
        self.expect("{")
        matchers = [self.matcher()]
        while self.peek.is_(","):
            self.next()
            matchers.append(self.matcher())
        self.expect("}")
        if all(m.matches_empty for m in matchers):
            raise InputError(EMPTY_MATCHER_MESSAGE)
        return tuple(matchers)

    def matcher(self) -> Matcher:
        name = self.next()
        if name.kind != "IDENTIFIER":
            raise self.error("IDENTIFIER", name)
        op = self.next()
        if not op.is_("=", "!=", "=~", "!~"):
            raise self.error("= or != or =~ or !~", op)
        value = self.next()
        if value.kind != "STRING":
            raise self.error("STRING", value)
        text = self.string(value)
        if op.text in ("=~", "!~"):
            _check_regex(self.query, value, text, f"the label matcher {name.text}{op.text}", dot_matches_newline=True)
        return _matcher(name.text, op.text, text)

    def string(self, token: Token) -> str:
        return unquote(token, self.query)

    def pipeline(self) -> tuple[Stage, ...]:
        stages: list[Stage] = []
        while True:
            token = self.peek
            if token.is_("|=", "!=", "|~", "!~"):
                stages.append(self.line_filter())
            elif token.is_("|>", "!>"):
                raise UnsupportedQuery(f"The pattern line filter `{token.text}`")
            elif token.is_("|"):
                self.next()
                stages.append(self.stage())
            else:
                return tuple(stages)

    def line_filter(self) -> LineFilter:
        op = self.next()
        value = self.next()
        if value.is_("ip"):
            raise UnsupportedQuery("The `ip()` line filter")
        if value.kind != "STRING":
            raise self.error("STRING or ip", value)
        text = self.string(value)
        if op.text in ("|~", "!~"):
            _check_regex(self.query, value, text, f"the line filter {op.text}")
        if self.peek.is_("or"):
            raise UnsupportedQuery("`or` between line filters")
        return LineFilter(op.text, text)  # type: ignore[arg-type]

    def stage(self) -> Stage:
        token = self.peek
        if token.is_("json", "logfmt"):
            self.next()
            if self.peek.kind in ("IDENTIFIER", "STRING") or self.peek.is_("-"):
                raise UnsupportedQuery(f"`| {token.text}` with parameters or flags")
            return Parser(token.text)  # type: ignore[arg-type]
        if token.kind == "IDENTIFIER" and token.text in _UNSUPPORTED_STAGES:
            raise UnsupportedQuery(f"`| {token.text}`")
        if token.kind == "IDENTIFIER" or token.is_("("):
            return self.label_or()
        raise self.error("a parser, a label filter or a line format")

    def label_or(self) -> LabelFilter:
        left = self.label_and()
        while self.peek.is_("or"):
            self.next()
            left = LabelOr(left, self.label_and())
        return left

    def label_and(self) -> LabelFilter:
        left = self.label_primary()
        while self.peek.is_("and", ","):
            self.next()
            left = LabelAnd(left, self.label_primary())
        return left

    def label_primary(self) -> LabelFilter:
        if self.peek.is_("("):
            self.next()
            inner = self.label_or()
            self.expect(")")
            return inner
        name = self.next()
        if name.kind != "IDENTIFIER":
            raise self.error("IDENTIFIER", name)
        op = self.next()
        if not op.is_("=", "!=", "=~", "!~", "==", ">", ">=", "<", "<="):
            raise self.error("a comparison operator", op)
        value = self.next()
        if value.is_("ip"):
            raise UnsupportedQuery("The `ip()` label filter")
        if value.kind == "STRING" and op.text in ("=", "!=", "=~", "!~"):
            text = self.string(value)
            if op.text in ("=~", "!~"):
                what = f"the label filter {name.text}{op.text}"
                _check_regex(self.query, value, text, what, dot_matches_newline=True)
            return LabelCompare(_matcher(name.text, op.text, text))
        negative = value.is_("-")
        if negative:
            value = self.next()
        if value.kind not in ("NUMBER", "DURATION", "BYTES") or op.text in ("=~", "!~"):
            raise self.error("STRING" if op.text in ("=", "!=", "=~", "!~") else "NUMBER, DURATION or BYTES", value)
        try:
            number, unit = _literal(value)
        except ValueError as exc:
            raise syntax_error(self.query, value.pos, str(exc)) from None
        numeric_op = "==" if op.text == "=" else op.text
        return NumericCompare(name.text, numeric_op, -number if negative else number, unit)  # type: ignore[arg-type]

    def range_aggregation(self) -> RangeAggregation:
        op = self.next()
        self.expect("(")
        matchers = self.selector()
        range_ns = self.range() if self.peek.is_("[") else None
        pipeline = self.pipeline()
        if range_ns is None:
            if not self.peek.is_("["):
                raise self.error("[")
            range_ns = self.range()
        if self.peek.is_("offset"):
            raise UnsupportedQuery("The `offset` modifier")
        self.expect(")")
        if self.peek.is_("by", "without"):
            raise InputError(f"parse error : grouping not allowed for {op.text} aggregation")
        return RangeAggregation(op.text, LogQuery(matchers, pipeline), range_ns)  # type: ignore[arg-type]

    def range(self) -> int:
        self.expect("[")
        token = self.next()
        if token.kind != "DURATION":
            raise self.error("DURATION", token)
        self.expect("]")
        try:
            return parse_duration_ns(token.text)
        except ValueError as exc:
            raise syntax_error(self.query, token.pos, str(exc)) from None

    def vector_aggregation(self) -> VectorAggregation:
        op = self.next()
        grouping = self.grouping() if self.peek.is_("by", "without") else None
        self.expect("(")
        param = None
        if op.text in ("topk", "bottomk"):
            token = self.next()
            if token.kind != "NUMBER" or not token.text.isdigit():
                raise self.error("NUMBER", token)
            param = int(token.text)
            if param < 1:
                raise InputError(f"parse error : invalid parameter {op.text}({param},")
            self.expect(",")
        inner = self.metric_expr()
        self.expect(")")
        if grouping is None and self.peek.is_("by", "without"):
            grouping = self.grouping()
        return VectorAggregation(op.text, inner, grouping, param)  # type: ignore[arg-type]

    def grouping(self) -> Grouping:
        without = self.next().text == "without"
        self.expect("(")
        labels: list[str] = []
        while not self.peek.is_(")"):
            if labels:
                self.expect(",")
            token = self.next()
            if token.kind != "IDENTIFIER":
                raise self.error("IDENTIFIER", token)
            labels.append(token.text)
        self.next()
        return Grouping(without, tuple(labels))


def _matcher(name: str, op: str, value: str) -> Matcher:
    return Matcher(name, cast(MatchOp, op), value)


def _check_regex(query: str, token: Token, pattern: str, what: str, *, dot_matches_newline: bool = False) -> None:
    try:
        compile_user_regex(pattern, what=what, dot_matches_newline=dot_matches_newline)
    except InputError as exc:
        raise syntax_error(query, token.pos, str(exc)) from None


def _literal(token: Token) -> tuple[float, Unit]:
    if token.kind == "DURATION":
        return parse_duration_ns(token.text) / 1e9, "duration"
    if token.kind == "BYTES":
        return parse_bytes(token.text), "bytes"
    return float(token.text), "number"


def _shown(token: Token) -> str:
    """A token as Loki's parser names it in a syntax error (`$end`, `STRING`, `COUNT_OVER_TIME`, `(`)."""
    if token.kind == "EOF":
        return "$end"
    if token.kind == "IDENTIFIER":
        keyword = (
            token.text in RANGE_OPS or token.text in VECTOR_OPS or token.text in ("by", "without", "json", "logfmt")
        )
        return token.text.upper() if keyword else "IDENTIFIER"
    return token.text if token.kind == "SYMBOL" else token.kind
