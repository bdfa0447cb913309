"""`where:`, a table's row filter: the small predicate language we accept, parsed here.

Accepted (README "Row filters"): comparisons of ONE column with literals, combined:

    col = lit   col <> lit (or !=)   col < lit   col <= lit   col > lit   col >= lit
    col [NOT] IN (lit, ...)   col [NOT] BETWEEN lit AND lit   col IS [NOT] NULL
    NOT p   p AND q   p OR q   ( p )

A column is a bare name (letters, digits, `_`, `$`) or `back-quoted`; a literal is a number
(`-12`, `3.50`) or a single-quoted string (`''` for a quote; no backslash escapes, whose
meaning depends on MySQL's sql_mode). Keywords are case-insensitive.

Everything else is refused, with why: a function call (`NOW()`, `LOWER(x)`: time-dependent or
not evaluable on a binlog row image the way MySQL would), a subquery (its answer changes
without the row changing), column-to-column comparisons, `NULL` as a literal (`= NULL` is never
true: write `IS NULL`), LIKE/REGEXP (collation- and escape-dependent). A row's membership must
depend on that row's own values alone, or a row could leave the filter with no change to it and
the warehouse would keep it.

This module only parses (the config's syntax check); `extract/row_filter.py` checks the columns
against MySQL, renders the SQL and evaluates a binlog row image.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

Literal = Decimal | str

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<number>-?\d+(?:\.\d+)?(?![\w.]))
    | (?P<string>'(?:[^'\\]|'')*')
    | (?P<quoted>`(?:[^`]|``)+`)
    | (?P<op><=|>=|<>|!=|=|<|>|\(|\)|,)
    | (?P<word>[A-Za-z_$][\w$]*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"AND", "OR", "NOT", "IN", "IS", "NULL", "BETWEEN"}
_REFUSED_WORDS = {
    "SELECT": "a subquery is not accepted (its answer can change with no change to the row)",
    "EXISTS": "a subquery is not accepted (its answer can change with no change to the row)",
    "LIKE": "LIKE is not accepted (collation- and escape-dependent); use = or IN",
    "REGEXP": "REGEXP is not accepted; use = or IN",
    "RLIKE": "RLIKE is not accepted; use = or IN",
    "TRUE": "TRUE/FALSE are not accepted: compare with 1 or 0",
    "FALSE": "TRUE/FALSE are not accepted: compare with 1 or 0",
    "CURRENT_DATE": "time-dependent predicates are not accepted (a row would leave the filter "
    "with no change to it)",
    "CURRENT_TIMESTAMP": "time-dependent predicates are not accepted (a row would leave the "
    "filter with no change to it)",
}


class FilterSyntaxError(ValueError):
    """`where:` is not in the accepted language; the message says what and where."""


@dataclass(frozen=True)
class Compare:
    column: str
    op: str  # = <> < <= > >=
    value: Literal


@dataclass(frozen=True)
class InList:
    column: str
    values: tuple[Literal, ...]
    negated: bool


@dataclass(frozen=True)
class Between:
    column: str
    low: Literal
    high: Literal
    negated: bool


@dataclass(frozen=True)
class IsNull:
    column: str
    negated: bool


@dataclass(frozen=True)
class Not:
    operand: Expr


@dataclass(frozen=True)
class BoolOp:
    op: str  # AND | OR
    operands: tuple[Expr, ...]


Expr = Compare | InList | Between | IsNull | Not | BoolOp


@dataclass(frozen=True)
class _Tok:
    kind: str  # number string column keyword op end
    text: str
    value: object
    at: int


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if not text[pos:].strip():
            break
        match = _TOKEN.match(text, pos)
        if match is None:  # the parser says so when it gets there (a function call first)
            bad = text[pos:].lstrip()
            out.append(_Tok("bad", bad[:20], None, len(text) - len(bad)))
            break
        kind = match.lastgroup or ""
        raw = match.group(kind)
        at = match.start(kind)
        if kind == "number":
            out.append(_Tok("literal", raw, Decimal(raw), at))
        elif kind == "string":
            out.append(_Tok("literal", raw, raw[1:-1].replace("''", "'"), at))
        elif kind == "quoted":
            out.append(_Tok("column", raw, raw[1:-1].replace("``", "`"), at))
        elif kind == "word" and raw.upper() in _KEYWORDS:
            out.append(_Tok("keyword", raw.upper(), raw.upper(), at))
        elif kind == "word":
            out.append(_Tok("column", raw, raw, at))
        else:
            out.append(_Tok("op", raw, "<>" if raw == "!=" else raw, at))
        pos = match.end()
    out.append(_Tok("end", "end of text", None, len(text)))
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0

    def peek(self, offset: int = 0) -> _Tok:
        return self.toks[min(self.i + offset, len(self.toks) - 1)]

    def take(self) -> _Tok:
        tok = self.peek()
        self.i += 1
        return tok

    def keyword(self, word: str) -> bool:
        if self.peek().kind == "keyword" and self.peek().value == word:
            self.i += 1
            return True
        return False

    def expect(self, kind: str, value: object, what: str) -> None:
        tok = self.take()
        if tok.kind != kind or tok.value != value:
            raise _unexpected(tok, what)

    def or_(self) -> Expr:
        parts = [self.and_()]
        while self.keyword("OR"):
            parts.append(self.and_())
        return parts[0] if len(parts) == 1 else BoolOp("OR", tuple(parts))

    def and_(self) -> Expr:
        parts = [self.not_()]
        while self.keyword("AND"):
            parts.append(self.not_())
        return parts[0] if len(parts) == 1 else BoolOp("AND", tuple(parts))

    def not_(self) -> Expr:
        if self.keyword("NOT"):
            return Not(self.not_())
        if self.peek().kind == "op" and self.peek().value == "(":
            self.take()
            inner = self.or_()
            self.expect("op", ")", "')'")
            return inner
        return self.predicate()

    def predicate(self) -> Expr:
        tok = self.take()
        self.refuse_call_or_word(tok)
        if tok.kind != "column":
            raise _unexpected(tok, "a column name")
        column = str(tok.value)
        if self.keyword("IS"):
            negated = self.keyword("NOT")
            self.expect("keyword", "NULL", "NULL after IS [NOT]")
            return IsNull(column, negated)
        negated = self.keyword("NOT")
        if self.keyword("IN"):
            return InList(column, self.in_list(), negated)
        if self.keyword("BETWEEN"):
            low = self.literal()
            self.expect("keyword", "AND", "AND in BETWEEN ... AND ...")
            return Between(column, low, self.literal(), negated)
        if negated:
            raise _unexpected(self.peek(), "IN or BETWEEN after NOT")
        op = self.take()
        if op.kind != "op" or op.value not in ("=", "<>", "<", "<=", ">", ">="):
            raise _unexpected(op, "a comparison (=, <>, <, <=, >, >=, IN, BETWEEN, IS NULL)")
        return Compare(column, str(op.value), self.literal())

    def in_list(self) -> tuple[Literal, ...]:
        self.expect("op", "(", "'(' after IN")
        values = [self.literal()]
        while self.peek().kind == "op" and self.peek().value == ",":
            self.take()
            values.append(self.literal())
        self.expect("op", ")", "')' closing the IN list")
        return tuple(values)

    def refuse_call_or_word(self, tok: _Tok) -> None:
        """A function call, a subquery or a refused keyword at `tok`: the error saying why."""
        nxt = self.peek()
        if tok.kind == "op" and tok.value == "(" and nxt.text.upper() == "SELECT":
            raise FilterSyntaxError(f"SELECT at character {nxt.at}: {_REFUSED_WORDS['SELECT']}")
        if tok.kind == "column" and nxt.kind == "op" and nxt.value == "(":
            raise FilterSyntaxError(
                f"function {tok.text}(...) at character {tok.at} is not accepted: functions can "
                "depend on time or session state, and a binlog row image cannot be evaluated "
                "by them; compare a column with literals"
            )
        if tok.kind == "column" and tok.text.upper() in _REFUSED_WORDS and tok.text[0] != "`":
            raise FilterSyntaxError(
                f"{tok.text} at character {tok.at}: {_REFUSED_WORDS[tok.text.upper()]}"
            )

    def literal(self) -> Literal:
        tok = self.take()
        self.refuse_call_or_word(tok)
        if tok.kind == "literal":
            assert isinstance(tok.value, (Decimal, str))
            return tok.value
        if tok.kind == "keyword" and tok.value == "NULL":
            raise FilterSyntaxError(
                f"NULL at character {tok.at}: a comparison with NULL is never true; write "
                "`col IS NULL` or `col IS NOT NULL`"
            )
        if tok.kind == "column":
            raise FilterSyntaxError(
                f"{tok.text} at character {tok.at}: compare a column with a literal (a number "
                "or a 'quoted string'), not with another column"
            )
        raise _unexpected(tok, "a literal (a number or a 'quoted string')")


def _unexpected(tok: _Tok, wanted: str) -> FilterSyntaxError:
    if tok.kind == "column" and tok.text.upper() in _REFUSED_WORDS:
        why = _REFUSED_WORDS[tok.text.upper()]
        return FilterSyntaxError(f"{tok.text} at character {tok.at}: {why}")
    if tok.kind == "bad" and tok.text.startswith("'"):
        return FilterSyntaxError(
            f"a string at character {tok.at} has no closing quote or has a backslash (write a "
            "quote as '' ; backslash escapes are not accepted: their meaning depends on sql_mode)"
        )
    if tok.kind == "bad":
        return FilterSyntaxError(f"unexpected {tok.text!r} at character {tok.at}")
    return FilterSyntaxError(f"expected {wanted} at character {tok.at}, found {tok.text!r}")


def parse_filter(text: str) -> Expr:
    """`text` as a predicate of the accepted language, or FilterSyntaxError saying why not."""
    if not text.strip():
        raise FilterSyntaxError("the filter is empty (remove `where:` to copy every row)")
    parser = _Parser(text)
    expr = parser.or_()
    if parser.peek().kind != "end":
        raise _unexpected(parser.peek(), "AND, OR, ')' or the end")
    return expr


def columns_of(expr: Expr) -> list[str]:
    """The column names `expr` reads, in order of appearance."""
    if isinstance(expr, Not):
        return columns_of(expr.operand)
    if isinstance(expr, BoolOp):
        return [c for part in expr.operands for c in columns_of(part)]
    return [expr.column]
