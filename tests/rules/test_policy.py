"""The policy: rules in Radar's order, shadow rules recorded only, lists, whole-or-nothing loading."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from fraudstream.rules.document import RulesetError, parse_ruleset
from fraudstream.rules.fields import table_columns
from fraudstream.rules.lists import tier_rules
from fraudstream.rules.policy import ListValues, compile_policy
from fraudstream.schema import Outcome

FEATURES = ("amount", "customer_new_device", "customer_distance_usual_km")
THRESHOLDS = (0.5, 0.9)


def judged(rules: list[dict[str, Any]], rows: dict[str, list[Any]], scores: list[float], lists=None, tiers=()):  # type: ignore[no-untyped-def]
    policy = compile_policy(parse_ruleset({"rules": rules}), FEATURES, version=3, tiers=tiers)
    n = len(scores)
    X = np.column_stack([np.asarray(rows.get(name, [np.nan] * n), dtype=float) for name in FEATURES])
    columns = table_columns(rows, X, FEATURES, np.asarray(scores), policy.columns)
    return policy.verdicts(columns, np.asarray(scores), THRESHOLDS, lists or {})


def rule(id: str, when: str, action: Any, **more: Any) -> dict[str, Any]:
    return {"id": id, "when": when, "action": action, **more}


def test_allow_beats_block_beats_review_beats_the_model() -> None:
    rules = [
        rule("review_big", "amount > 100", "review"),
        rule("block_huge", "amount > 1000", "block"),
        rule("allow_vip", "customer_id = 'vip'", "allow"),
    ]
    rows = {"amount": [5000.0, 5000.0, 500.0, 500.0, 5.0, 5.0], "customer_id": ["vip", "c", "c", "c", "c", "c"]}
    v = judged(rules, rows, [0.99, 0.1, 0.99, 0.1, 0.95, 0.6])
    assert list(v.outcomes) == [
        Outcome.APPROVE,  # allow wins over block, review and a declining score
        Outcome.DECLINE,  # block wins over review and a low score
        Outcome.REVIEW,  # review wins over the model's decline
        Outcome.REVIEW,
        Outcome.DECLINE,  # no rule: the thresholds
        Outcome.REVIEW,
    ]
    assert [[h.id for h in hits] for hits in v.hits] == [
        ["review_big", "block_huge", "allow_vip"],
        ["review_big", "block_huge"],
        ["review_big"],
        ["review_big"],
        [],
        [],
    ]


def test_shadow_rules_are_recorded_and_never_change_an_outcome() -> None:
    rows = {"amount": [5000.0, 1.0]}
    live = judged([], rows, [0.2, 0.95])
    shadow = judged(
        [
            rule("s_block", "amount > 1000", "block", mode="shadow"),
            rule("s_allow", "amount < 10", "allow", mode="shadow"),
            rule("s_add", "amount > 0", {"score_add": 0.5}, mode="shadow"),
        ],
        rows,
        [0.2, 0.95],
    )
    assert list(shadow.outcomes) == list(live.outcomes) == [Outcome.APPROVE, Outcome.DECLINE]
    assert list(shadow.scores) == [0.2, 0.95]
    assert [[(h.id, h.mode) for h in hits] for hits in shadow.hits] == [
        [("s_block", "shadow"), ("s_add", "shadow")],
        [("s_allow", "shadow"), ("s_add", "shadow")],
    ]


def test_score_add_shifts_the_score_before_the_thresholds_and_is_clipped() -> None:
    rows = {"amount": [600.0, 600.0, 1.0], "customer_new_device": [1.0, 1.0, 0.0]}
    v = judged(
        [
            rule("new_device", "customer_new_device", {"score_add": 0.3}),
            rule("big", "amount > 500", {"score_add": 0.2}),
            rule("small", "amount < 5", {"score_add": -0.4}),
        ],
        rows,
        [0.1, 0.6, 0.3],
    )
    assert np.allclose(v.scores, [0.6, 1.0, 0.0])
    assert list(v.outcomes) == [Outcome.REVIEW, Outcome.DECLINE, Outcome.APPROVE]


def test_unknown_features_never_fire_either_way() -> None:
    rows = {"amount": [10.0, 10.0], "customer_distance_usual_km": [np.nan, 900.0]}
    v = judged(
        [
            rule("far", "customer_distance_usual_km > 500", "review"),
            rule("near", "customer_distance_usual_km <= 500", "review"),
        ],
        rows,
        [0.1, 0.1],
    )
    assert [[h.id for h in hits] for hits in v.hits] == [[], ["far"]]


def test_lists_in_rules_and_as_tiers() -> None:
    rows = {"device_id": ["d-bad", "d-ok", None], "customer_id": ["4111119999", "5500001234", "4000000000"]}
    lists = {
        "blocked_devices": ListValues(frozenset({"d-bad"})),
        "bins": ListValues(frozenset({"411111", "55"}), prefix=True),
    }
    v = judged(
        [rule("risky_bin", "customer_id in list('bins')", "review")],
        rows,
        [0.1, 0.1, 0.1],
        lists,
        tier_rules([("blocked_devices", "device", "block")]),
    )
    assert [[h.id for h in hits] for hits in v.hits] == [["list.blocked_devices", "risky_bin"], ["risky_bin"], []]
    assert list(v.outcomes) == [Outcome.DECLINE, Outcome.REVIEW, Outcome.APPROVE]


def test_a_bad_ruleset_is_refused_whole_with_every_problem_named() -> None:
    document = parse_ruleset(
        """
rules:
  - id: fine
    when: amount > 1
    action: review
  - id: typo
    when: amount > 1 and velocity > 3
    action: block
  - id: broken
    when: amount >
    action: block
  - id: switched_off
    when: this is not even checked
    action: block
    enabled: false
"""
    )
    with pytest.raises(RulesetError) as caught:
        compile_policy(document, FEATURES)
    problems = {(p.rule, p.line, p.column) for p in caught.value.problems}
    assert problems == {("typo", 1, 16), ("broken", 1, 8)}
    assert "rule typo: unknown field 'velocity' (when: line 1, column 16)" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: [{id: a, when: 'x > 1', action: review}, {id: a, when: 'x > 2', action: block}]", "used twice"),
        ("rules: [{id: a, when: 'x > 1', action: escalate}]", "action"),
        ("rules: [{id: a, when: 'x > 1', action: {score_add: 3}}]", "action"),
        ("rules: [{id: 'no spaces', when: 'x > 1', action: review}]", "id"),
        ("!!python/object/apply:os.system ['touch /tmp/pwned']", "YAML"),
        ("rules: [{id: a, when: 'x', action: review, extra: 1}]", "extra"),
        ("[1, 2]", "mapping"),
    ],
)
def test_a_ruleset_file_is_checked_before_anything_compiles(text: str, message: str) -> None:
    with pytest.raises(RulesetError) as caught:
        parse_ruleset(text)
    assert message.lower() in str(caught.value).lower()


@pytest.mark.parametrize("prefix", [False, True])
def test_a_list_matches_alike_in_a_batch_and_in_a_history_chunk(prefix: bool) -> None:
    import polars as pl

    rng = np.random.default_rng(3)
    values = [
        None if rng.random() < 0.1 else f"{rng.integers(0, 60):02d}{rng.integers(0, 999):03d}" for _ in range(6000)
    ]
    present = sorted({v for v in values if v is not None})
    chosen = {"07", "1234", "45", "12", "59000"} if prefix else set(present[::40])
    listed = ListValues(frozenset(chosen), prefix)
    column = pl.Series("v", values, dtype=pl.String)
    small = pl.concat([listed.mask(column[i : i + 500], "m") for i in range(0, len(values), 500)])
    large = listed.mask(column, "m")  # past SMALL: Polars' own is_in
    expected = [
        v is not None and (any(v.startswith(p) for p in listed.values) if prefix else v in listed.values)
        for v in values
    ]
    assert small.to_list() == large.to_list() == expected
    assert sum(expected) > 50
