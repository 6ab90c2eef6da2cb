"""A ruleset as people write it: YAML (a file, `--rules`) or JSON (the API).

rules:
  - id: far_and_large
    description: A large payment far from where the customer usually pays.
    when: amount > 1000 and customer_distance_usual_km > 500
    action: review              # allow | review | block | {score_add: 0.2}
    mode: shadow                # live (default) | shadow: recorded, never changes the outcome
    enabled: true
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

__all__ = [
    "MAX_RULES",
    "Action",
    "Problem",
    "Rule",
    "RulesetDocument",
    "RulesetError",
    "ScoreAdd",
    "load_ruleset",
    "parse_ruleset",
]

MAX_RULES = 500

_RULE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
RuleId = Annotated[str, StringConstraints(pattern=f"^{_RULE_ID.pattern}$")]


class ScoreAdd(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    score_add: float = Field(ge=-1.0, le=1.0, allow_inf_nan=False, description="Added to the model's score.")


Action = Literal["allow", "review", "block"] | ScoreAdd


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: RuleId
    description: Annotated[str, StringConstraints(max_length=500)] = ""
    when: Annotated[str, StringConstraints(min_length=1, max_length=2000)] = Field(
        description="A SQL boolean expression over the transaction's fields, its features, `score` and lists."
    )
    action: Action
    mode: Literal["live", "shadow"] = "live"
    enabled: bool = True

    @property
    def action_name(self) -> str:
        return "score_add" if isinstance(self.action, ScoreAdd) else self.action


class RulesetDocument(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: list[Rule] = Field(default_factory=list, max_length=MAX_RULES)

    @field_validator("rules")
    @classmethod
    def _unique_ids(cls, rules: list[Rule]) -> list[Rule]:
        seen: set[str] = set()
        for rule in rules:
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id!r} is used twice")
            seen.add(rule.id)
        return rules

    def canonical(self) -> str:
        """The document as compact JSON with sorted keys: equal rulesets, equal texts."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


class Problem(BaseModel):
    """One thing wrong with a ruleset: which rule, where in its condition, what."""

    rule: str | None = None
    field: str | None = None
    line: int | None = None
    column: int | None = None
    message: str

    def __str__(self) -> str:
        where = f"rule {self.rule}" if self.rule else "ruleset"
        if self.field and self.line is None:
            where += f", {self.field}"
        text = f"{where}: {self.message}"
        if self.line is not None:
            text += f" ({self.field or 'when'}: line {self.line}, column {self.column})"
        return text


class RulesetError(ValueError):
    """A ruleset that cannot be used; nothing of it is applied."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


def load_ruleset(path: Path) -> RulesetDocument:
    """A ruleset from a YAML file; raises RulesetError (OSError if it cannot be read)."""
    return parse_ruleset(path.read_bytes())


def parse_ruleset(data: str | bytes | dict[str, Any]) -> RulesetDocument:
    """A ruleset from YAML or JSON text (JSON is YAML) or already-parsed data; raises RulesetError."""
    if not isinstance(data, dict):
        try:
            data = yaml.safe_load(data) or {}  # safe_load builds plain values only: no tags, no objects
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line, column = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
            raise RulesetError([Problem(line=line, column=column, message="not valid YAML")]) from None
        if not isinstance(data, dict):
            raise RulesetError([Problem(message="a ruleset is a mapping with a 'rules' list")])
    try:
        return RulesetDocument.model_validate(data)
    except ValidationError as exc:
        problems = [_problem(data, error) for error in exc.errors()[:50]]
        unique = {(p.rule, p.field, p.message): p for p in problems}  # one per union branch otherwise
        raise RulesetError(list(unique.values())) from None


def _problem(data: dict[str, Any], error: Any) -> Problem:
    loc = list(error["loc"])
    rule = None
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        rules = data.get("rules")
        entry = rules[loc[1]] if isinstance(rules, list) and loc[1] < len(rules) else None
        raw_id = entry.get("id") if isinstance(entry, dict) else None
        rule = raw_id if isinstance(raw_id, str) and _RULE_ID.fullmatch(raw_id) else f"#{loc[1] + 1}"
        loc = loc[2:]
    field = ".".join(str(part) for part in loc if not str(part).startswith(("literal[", "function-")))
    message = str(error["msg"]).split(", got ")[0].removeprefix("Value error, ")  # never the value that was sent
    if loc[:1] == ["action"]:
        field, message = "action", "is allow, review, block or {score_add: x} with x between -1 and 1"
    return Problem(rule=rule, field=field or None, message=message)
