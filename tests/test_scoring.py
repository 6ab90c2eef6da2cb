from __future__ import annotations

from fraudstream.model.artifact import Model
from fraudstream.schema import Decision, Outcome, Transaction
from fraudstream.scoring import Scorer
from fraudstream.simulate import World


def test_decisions_are_what_their_own_json_validates_to(trained_model: Model, world: World) -> None:
    """Decisions are built without validation (for speed): each must still be a valid one."""
    frame, _ = world.day(21)
    transactions = [
        Transaction.model_validate({k: v for k, v in r.items() if v is not None and v == v})
        for r in frame.head(400).to_dict("records")
    ]
    decisions = Scorer(trained_model).score(transactions)
    assert [d.transaction_id for d in decisions] == [tx.transaction_id for tx in transactions]
    assert [d.customer_id for d in decisions] == [tx.customer_id for tx in transactions]
    for decision in decisions:
        assert Decision.model_validate_json(decision.model_dump_json()) == decision
        assert decision.model_fields_set == set(Decision.model_fields)
        assert type(decision.score) is float and isinstance(decision.outcome, Outcome)
        assert decision.model_version == trained_model.version
    assert len({id(d.rules) for d in decisions}) == len(decisions), "decisions share a mutable list"
    assert len({d.decided_at for d in decisions}) == 1
