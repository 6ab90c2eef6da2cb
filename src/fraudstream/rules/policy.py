"""A compiled ruleset and how it turns a model's scores into outcomes.

The order is Radar's: `score_add` rules shift the score first; then allow rules (and
allow lists) approve, else block rules decline, else review rules send to review, else
the model's thresholds decide on the shifted score. Shadow rules are evaluated and
recorded like live ones and never change an outcome. Every decision records each rule
that fired, live or shadow.

The same `Policy.verdicts` runs live (a batch's columns) and in backtests (a history's, in
chunks): one vectorised pass of every condition over them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt
import polars as pl

from fraudstream.rules.document import Problem, Rule, RulesetDocument, RulesetError, ScoreAdd
from fraudstream.rules.expressions import Condition, ExpressionError, compile_condition
from fraudstream.rules.fields import SCORE, rule_schema
from fraudstream.schema import Outcome, RuleHit, shortened

__all__ = ["CompiledRule", "ListValues", "Lists", "Policy", "Verdicts", "compile_policy"]

FloatArray = npt.NDArray[np.float64]
#: Up to this many rows a Python set look-up per value beats Polars building its hash set of
#: the list at every call; a backtest's chunks take Polars' vectorised path.
SMALL = 4096


@dataclass(frozen=True)
class ListValues:
    """A list's values in force now; a prefix list matches values that start with one."""

    values: frozenset[str]
    prefix: bool = False

    def mask(self, column: pl.Series, name: str) -> pl.Series:
        """Whether each value is on the list (a missing value is not)."""
        if len(column) <= SMALL:
            values = self.values  # None is in no list
            hits = (
                [v in values for v in column.to_list()]
                if not self.prefix
                else [v is not None and self.contains(v) for v in column.to_list()]
            )
            return pl.Series(name, hits, dtype=pl.Boolean)
        tests = [column.str.slice(0, n).is_in(values) for n, values in self._by_length] if self.prefix else []
        hit = column.is_in(self._values) if not self.prefix else pl.Series([False] * len(column))
        for test in tests:
            hit = hit | test
        return hit.fill_null(False).alias(name)

    def contains(self, value: str) -> bool:
        if not self.prefix:
            return value in self.values
        return any(value[:n] in group for n, group in self._groups)

    @cached_property
    def _values(self) -> pl.Series:
        """Built once per list version, not per batch."""
        return pl.Series(sorted(self.values), dtype=pl.String).implode()  # one list: the set tested against

    @cached_property
    def _groups(self) -> list[tuple[int, frozenset[str]]]:
        """A prefix list's values by length."""
        by_length: dict[int, set[str]] = {}
        for value in self.values:
            by_length.setdefault(len(value), set()).add(value)
        return [(n, frozenset(values)) for n, values in sorted(by_length.items())]

    @cached_property
    def _by_length(self) -> list[tuple[int, pl.Series]]:
        return [(n, pl.Series(sorted(group), dtype=pl.String).implode()) for n, group in self._groups]


#: Lists by name.
Lists = Mapping[str, ListValues]
_EMPTY = ListValues(frozenset())


@dataclass(frozen=True)
class CompiledRule:
    rule: Rule
    condition: Condition
    hit: RuleHit


@dataclass(frozen=True)
class Verdicts:
    """What the policy made of a batch: outcomes, scores after `score_add`, rules fired per row."""

    outcomes: npt.NDArray[np.object_]
    scores: FloatArray
    fired: npt.NDArray[np.bool_]  # (rows, rules) in the policy's order
    hits: list[list[RuleHit]]


@dataclass(frozen=True)
class Policy:
    """Enabled rules compiled against one model's features; `version` is the stored ruleset's."""

    rules: tuple[CompiledRule, ...] = ()
    version: int | None = None
    document: RulesetDocument = field(default_factory=RulesetDocument)

    @cached_property
    def columns(self) -> list[str]:
        """The columns the rules read."""
        names: set[str] = set()
        for compiled in self.rules:
            names |= compiled.condition.fields
            names |= {test.field for test in compiled.condition.lists}
        return sorted(names)

    @property
    def lists(self) -> set[str]:
        return {test.list_name for compiled in self.rules for test in compiled.condition.lists}

    def fired(self, columns: Mapping[str, pl.Series], lists: Lists) -> npt.NDArray[np.bool_]:
        """Which rule fired on which row, (rows, rules), over `columns` (the frame builders'):
        a condition that is null is not met."""
        height = len(columns[SCORE])
        if not self.rules:
            return np.zeros((height, 0), dtype=bool)
        masks = [
            lists.get(test.list_name, _EMPTY).mask(columns[test.field], test.column)
            for compiled in self.rules
            for test in compiled.condition.lists
        ]
        # One eager select: for a batch's few hundred rows a lazy query's planning costs more.
        fired = pl.DataFrame([*columns.values(), *masks]).select(self._conditions).to_numpy()
        return fired.astype(bool, copy=False).reshape(height, len(self.rules))

    @cached_property
    def _conditions(self) -> list[pl.Expr]:
        return [c.condition.expr.fill_null(False).alias(f"r{i}") for i, c in enumerate(self.rules)]

    def verdicts(
        self, columns: Mapping[str, pl.Series], scores: FloatArray, thresholds: tuple[float, float], lists: Lists
    ) -> Verdicts:
        """Outcomes of scored rows: rules first, then the (review, decline) thresholds."""
        fired = self.fired(columns, lists)
        effective = fired & self._live
        shifted = np.clip(scores + (effective * self._adds).sum(axis=1), 0.0, 1.0) if self._adds.any() else scores
        review, decline = thresholds
        outcomes = np.empty(len(scores), dtype=object)
        outcomes[:] = Outcome.APPROVE
        outcomes[shifted >= review] = Outcome.REVIEW
        outcomes[shifted >= decline] = Outcome.DECLINE
        for action, outcome in (("review", Outcome.REVIEW), ("block", Outcome.DECLINE), ("allow", Outcome.APPROVE)):
            chosen = self._by_action[action]
            if chosen:
                outcomes[effective[:, chosen].any(axis=1)] = outcome
        return Verdicts(outcomes, shifted, fired, self.hits(fired))

    @cached_property
    def _live(self) -> npt.NDArray[np.bool_]:
        return np.array([c.rule.mode == "live" for c in self.rules], dtype=bool)

    @cached_property
    def _adds(self) -> FloatArray:
        return np.array([c.rule.action.score_add if isinstance(c.rule.action, ScoreAdd) else 0.0 for c in self.rules])

    @cached_property
    def _by_action(self) -> dict[str, list[int]]:
        """Each action's rules, by position."""
        return {
            a: [i for i, c in enumerate(self.rules) if c.rule.action_name == a] for a in ("review", "block", "allow")
        }

    def hits(self, fired: npt.NDArray[np.bool_]) -> list[list[RuleHit]]:
        """Each row's rules that fired, in the policy's order (most rows: none)."""
        rows: list[list[RuleHit]] = [[] for _ in range(fired.shape[0])]
        for row, column in zip(*np.nonzero(fired), strict=True):
            rows[row].append(self.rules[column].hit)
        return rows


def compile_policy(
    document: RulesetDocument,
    feature_names: Iterable[str],
    version: int | None = None,
    known_lists: Collection[str] | None = None,
    tiers: Sequence[Rule] = (),
) -> Policy:
    """Compile every enabled rule (after the list `tiers`); all problems are reported
    together and nothing is applied if there is one. `known_lists`: the lists that exist
    (None: do not check)."""
    schema = rule_schema(feature_names)
    compiled: list[CompiledRule] = []
    problems: list[Problem] = []
    for rule in [*tiers, *document.rules]:
        if not rule.enabled:
            continue
        try:
            condition = compile_condition(rule.when, schema, list_prefix=f"__list_{len(compiled)}")
        except ExpressionError as exc:
            problems.append(Problem(rule=rule.id, field="when", line=exc.line, column=exc.column, message=exc.message))
            continue
        if known_lists is not None:
            for test in condition.lists:
                if test.list_name not in known_lists:
                    missing = repr(shortened(test.list_name))
                    problems.append(Problem(rule=rule.id, field="when", message=f"the list {missing} does not exist"))
        for test in condition.lists:
            if schema[test.field] != pl.String():
                problems.append(Problem(rule=rule.id, field="when", message=f"{test.field} is not a text field"))
        compiled.append(CompiledRule(rule, condition, RuleHit(rule.id, rule.action_name, rule.mode)))
    if problems:
        raise RulesetError(problems)
    return Policy(tuple(compiled), version, document)
