from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from fraudstream.decide.scorer import Scorer
from fraudstream.features import Events, MemoryState
from fraudstream.model.artifact import Model
from fraudstream.model.explain import top_reasons
from fraudstream.rules.document import parse_ruleset
from fraudstream.rules.policy import compile_policy
from fraudstream.schema import Decision, Outcome, RuleHit, Transaction
from fraudstream.simulate import World


def transactions_of(world: World, day: int, n: int) -> list[Transaction]:
    frame, _ = world.day(day)
    return [
        Transaction.model_validate({k: v for k, v in r.items() if v is not None and v == v})
        for r in frame.head(n).to_dict("records")
    ]


def test_decisions_are_what_their_own_json_validates_to(trained_model: Model, world: World) -> None:
    """Decisions are built without validation (for speed): each must still be a valid one,
    serialised as pydantic would (field order included: a replay republishes it)."""
    transactions = transactions_of(world, 21, 400)
    rules = parse_ruleset({"rules": [{"id": "some", "when": "amount > 50", "action": "review", "mode": "shadow"}]})
    decisions = Scorer(trained_model).score(transactions, compile_policy(rules, trained_model.features.names, 4))
    assert [d.transaction_id for d in decisions] == [tx.transaction_id for tx in transactions]
    assert [d.customer_id for d in decisions] == [tx.customer_id for tx in transactions]
    assert {len(d.rules) for d in decisions} == {0, 1} and {d.ruleset_version for d in decisions} == {4}
    for decision in decisions:
        text = decision.model_dump_json()
        assert Decision.model_validate_json(text) == decision
        assert Decision.model_validate_json(text).model_dump_json() == text
        assert decision.model_fields_set == set(Decision.model_fields)
        assert type(decision.score) is float and isinstance(decision.outcome, Outcome)
        assert decision.model_version == trained_model.version
    assert len({id(d.rules) for d in decisions}) == len(decisions), "decisions share a mutable list"
    assert len({id(d.model_fields_set) for d in decisions}) == len(decisions), "decisions share their fields set"
    assert len({d.decided_at for d in decisions}) == 1
    first = decisions[0]
    with pytest.raises(ValidationError, match="frozen"):
        first.score = 0.5  # type: ignore[misc]
    hit = RuleHit("blocklist", "block", "live")
    changed = first.model_copy(update={"rules": [hit]})
    assert changed.rules == [hit] and first.rules != [hit] and changed != first


def test_flagged_decisions_get_exact_treeshap_reasons_and_approvals_fast_ones(
    trained_model: Model, world: World
) -> None:
    transactions = transactions_of(world, 22, 2_000)
    scored = Scorer(trained_model, MemoryState()).prepare(transactions).scored
    X, flagged = scored.features, scored.outcomes != Outcome.APPROVE
    assert 0 < flagged.sum() < len(X), "the batch needs both flagged and approved transactions"
    contributions = trained_model.contributions(X, exact=False)
    contributions[flagged] = trained_model.contributions(X[flagged], exact=True)
    present = Events.from_transactions(transactions).present()
    assert scored.reasons == top_reasons(trained_model.features, X, contributions, flagged, present)
    exact_everywhere = top_reasons(trained_model.features, X, trained_model.contributions(X), flagged, present)
    assert scored.reasons != exact_everywhere  # the approvals' reasons are the fast ones
    assert np.array_equal(scored.scores, trained_model.predict(X))
