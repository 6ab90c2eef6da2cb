"""A rule's condition: SQL boolean expression -> a vectorised Polars expression.

sqlglot parses the text (positions for syntax errors) and the tree is checked against an
allow-list of node kinds: comparisons, AND/OR/NOT, IN, BETWEEN, LIKE, IS NULL,
arithmetic and a few scalar functions. Anything else (subqueries, aggregates, casts,
qualified names, unknown functions) is refused before Polars sees it, so a rule can
only compute a true/false per row from that row's columns. Polars then compiles the
checked text (`polars.sql_expr`) and a dry run over an empty frame of the real column
types catches type errors at load time.

`field in list('name')` becomes a boolean column the policy fills from the list's
entries per batch, so a list's contents can change without compiling rules again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

__all__ = ["Condition", "ExpressionError", "ListTest", "compile_condition"]

MAX_LENGTH = 2000

_CONNECTIVES = (exp.And, exp.Or, exp.Not)
_ALLOWED: tuple[type[exp.Expr], ...] = (
    *_CONNECTIVES,
    exp.Paren,
    exp.EQ,
    exp.NEQ,
    exp.GT,
    exp.GTE,
    exp.LT,
    exp.LTE,
    exp.Is,
    exp.In,
    exp.Between,
    exp.Like,
    exp.ILike,
    exp.Add,
    exp.Sub,
    exp.Mul,
    exp.Div,
    exp.Mod,
    exp.Neg,
    exp.Abs,
    exp.Lower,
    exp.Upper,
    exp.Length,
    exp.Coalesce,
    exp.Round,
    exp.Least,
    exp.Greatest,
    exp.Column,
    exp.Identifier,
    exp.Literal,
    exp.Boolean,
    exp.Null,
)
_FUNCTIONS = "abs, coalesce, greatest, least, length, lower, round, upper"


class ExpressionError(ValueError):
    """A condition that cannot be compiled: what is wrong and where (1-based line and column)."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


@dataclass(frozen=True)
class ListTest:
    """`field in list('name')`: filled in as a boolean column named `column`."""

    column: str
    field: str
    list_name: str


@dataclass(frozen=True)
class Condition:
    expr: pl.Expr
    fields: frozenset[str]  # the columns it reads (list tests not included)
    lists: tuple[ListTest, ...]


def compile_condition(text: str, schema: Mapping[str, pl.DataType], list_prefix: str = "__list") -> Condition:
    """Compile one condition over columns of `schema`; raises ExpressionError."""
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"a condition is at most {MAX_LENGTH} characters")
    try:
        tokens = sqlglot.tokenize(text)
        tree = sqlglot.parse_one(text)
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        raise ExpressionError(_syntax(first.get("description")), first.get("line"), first.get("col")) from None
    except TokenError:
        raise ExpressionError("syntax error: a quote or bracket is not closed") from None
    positions = _Positions(tree, tokens)
    tree, lists = _replace_lists(tree, schema, positions, list_prefix)
    fields = set()
    for node in tree.walk():
        if not isinstance(node, _ALLOWED):
            raise ExpressionError(_refusal(node), *positions.of(node))
        if isinstance(node, exp.Column):
            if node.table:
                raise ExpressionError("qualified names are not allowed: name a field alone", *positions.of(node))
            if node.name.startswith(list_prefix):
                continue
            if node.name not in schema:
                raise ExpressionError(f"unknown field {node.name!r}", *positions.of(node))
            fields.add(node.name)
    full = {**schema, **{t.column: pl.Boolean() for t in lists}}
    _type_check(tree, full, positions)
    return Condition(pl.sql_expr(tree.sql()), frozenset(fields), tuple(lists))


def _syntax(description: object) -> str:
    text = str(description or "")
    if "Required keyword" in text:
        return "syntax error: the expression ends early, or an operator is missing an operand"
    if "Invalid expression / Unexpected token" in text:
        return "syntax error: unexpected token"
    return "syntax error"


def _refusal(node: exp.Expr) -> str:
    if isinstance(node, exp.Func):
        name = node.sql_name().lower() if not isinstance(node, exp.Anonymous) else str(node.name).lower()
        return f"function {name}() is not allowed; allowed functions: {_FUNCTIONS}"
    if isinstance(node, exp.Query | exp.Subquery):
        return "subqueries are not allowed"
    if node.key == "block":
        return "a rule is one condition: no ';'"
    if node.key == "dot":
        return "attribute access (a.b) is not allowed"
    return f"{node.key.replace('_', ' ')} is not allowed in a rule"


def _replace_lists(
    tree: exp.Expr, schema: Mapping[str, pl.DataType], positions: _Positions, prefix: str
) -> tuple[exp.Expr, list[ListTest]]:
    """The tree with each list test replaced by its boolean column, and the tests."""
    tests: list[ListTest] = []
    for node in list(tree.find_all(exp.In)):
        target = node.args.get("field")
        if target is None:
            continue
        args = target.expressions if isinstance(target, exp.List) else []
        if not isinstance(target, exp.List) or len(args) != 1 or not _is_string(args[0]):
            raise ExpressionError("write a list test as: field in list('name')", *positions.of(node))
        field = node.this
        if not isinstance(field, exp.Column) or field.table:
            raise ExpressionError("a list test reads a field: field in list('name')", *positions.of(node))
        if field.name not in schema:
            raise ExpressionError(f"unknown field {field.name!r}", *positions.of(field))
        test = ListTest(f"{prefix}_{len(tests)}", field.name, str(args[0].this))
        tests.append(test)
        column = exp.column(test.column)
        if node is tree:
            return column, tests
        node.replace(column)
    return tree, tests


def _is_string(node: exp.Expr) -> bool:
    return isinstance(node, exp.Literal) and node.is_string


def _type_check(tree: exp.Expr, schema: Mapping[str, pl.DataType], positions: _Positions) -> None:
    """Dry-run the whole condition over an empty frame; on failure, find the innermost
    part that fails, so the error points at it."""
    empty = pl.DataFrame(schema=dict(schema))
    if _dtype(tree, empty) == pl.Boolean:
        return
    for node in reversed(list(tree.walk())):  # children before their parents
        if isinstance(node, exp.Column | exp.Identifier | exp.Literal | exp.Boolean | exp.Null | exp.Paren):
            continue
        if isinstance(node, _CONNECTIVES):
            for operand in (node.this, node.args.get("expression")):
                if operand is not None and _dtype(operand, empty) not in (pl.Boolean, pl.Null):
                    raise ExpressionError(
                        "expected a condition (true or false) here, not a value", *positions.of(operand)
                    )
        dtype = _dtype(node, empty)
        if isinstance(dtype, str):
            raise ExpressionError(f"type error: {dtype}", *positions.of(node))
    raise ExpressionError("the rule's condition must be true or false, not a value", *positions.of(tree))


def _dtype(node: exp.Expr, empty: pl.DataFrame) -> pl.DataType | str:
    """The type of the part's result, or the first line of why it has none."""
    try:
        return empty.select(pl.sql_expr(node.sql()).alias("r")).schema["r"]
    except Exception as exc:  # polars raises several kinds for a bad expression
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


class _Positions:
    """Where each part of the tree starts in the text: the first token of its first leaf.

    sqlglot keeps no positions on the tree, so leaves (names and literals) are matched to
    tokens in order: the k-th occurrence of a leaf's text is the k-th such token.
    """

    def __init__(self, tree: exp.Expr, tokens: list[Any]) -> None:
        self._where: dict[int, tuple[int, int]] = {}
        seen: dict[str, int] = {}
        for node in tree.dfs():
            text = _leaf_text(node)
            if text is None:
                continue
            k = seen.get(text, 0)
            seen[text] = k + 1
            matches = [t for t in tokens if t.text.lower() == text]
            if k < len(matches):
                token = matches[k]
                self._where[id(node)] = (token.line, max(1, token.col - len(token.text) + 1))

    def of(self, node: exp.Expr) -> tuple[int | None, int | None]:
        """The earliest position among the part's leaves (None: not known)."""
        found = [self._where[id(part)] for part in node.dfs() if id(part) in self._where]
        return min(found) if found else (None, None)


def _leaf_text(node: exp.Expr) -> str | None:
    """The token text a part starts with, for names, literals and function calls."""
    if isinstance(node, exp.Identifier | exp.Literal):
        return str(node.this).lower()
    if isinstance(node, exp.Null | exp.Boolean):
        return node.sql().lower()
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    if isinstance(node, exp.Func):
        return node.sql_name().lower()
    return None
