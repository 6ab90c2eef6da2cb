"""Scorer speed in-process, memory state: features + model + reasons, per core; and the
cost of a ruleset (bench/rules20.yaml: 20 rules) at batches of 500, with and without it,
interleaved in the same run.

python bench/scorer.py
"""

from __future__ import annotations

import gc
import time
from pathlib import Path

import numpy as np

from _common import save
from _world import history, live_transactions, model
from fraudstream.decide.scorer import Scorer
from fraudstream.features import MemoryState
from fraudstream.rules.document import load_ruleset
from fraudstream.rules.policy import ListValues, Policy, compile_policy
from fraudstream.runtime import COLLECTOR_THRESHOLDS
from fraudstream.schema import Outcome, Transaction

RULES = Path(__file__).parent / "rules20.yaml"


def main() -> None:
    trained, _ = model()
    transactions, labels = history()
    live = live_transactions(60_000)
    results = {}
    for batch in (1, 10, 100, 1_000):
        scorer = Scorer(trained, MemoryState())
        scorer.engine.history(transactions, labels)
        n = 5_000 if batch == 1 else len(live)
        started = time.perf_counter()
        flagged = 0
        for i in range(0, n, batch):
            decisions = scorer.score(live[i : i + batch])
            flagged += sum(d.outcome != Outcome.APPROVE for d in decisions)
        elapsed = time.perf_counter() - started
        results[str(batch)] = {
            "transactions": n,
            "transactions_per_s": round(n / elapsed),
            "ms_per_batch": round(1000 * elapsed / (n / batch), 3),
            "flagged_share": round(flagged / n, 4),
        }
    with_rules = rules_cost(trained, transactions, labels, live)
    with_challenger = challenger_cost(trained, transactions, labels, live)
    save(
        "scorer",
        {
            "model": trained.version,
            "trees": trained.booster.num_boosted_rounds(),
            "features": len(trained.features.names),
            "by_batch_size": results,
            "rules": with_rules,
            "challenger": with_challenger,
            "target_transactions_per_s": 20_000,
            "note": "features + XGBoost + reasons (exact TreeSHAP for flagged, approximate for approved)",
            "threads": 1,
            "numpy": np.__version__,
        },
    )


def rules_cost(trained, transactions, labels, live: list[Transaction], batch: int = 500, rounds: int = 3) -> dict:  # type: ignore[no-untyped-def]
    """Transactions/s at `batch` without and with the 20 rules, rounds interleaved."""
    policy = compile_policy(load_ruleset(RULES), trained.features.names, version=1)
    lists = {
        "blocked_devices": ListValues(frozenset(f"D{i:08d}" for i in range(1_000))),
        "trusted_customers": ListValues(frozenset(f"C{i:08d}" for i in range(1_000))),
    }
    timings: dict[str, list[float]] = {"without": [], "with": []}
    hits = 0
    warm_up = live_transactions(len(live) + batch)[len(live) :]  # payments after the measured ones
    # As a serving process collects garbage (`runtime.py`): the earlier loops' objects frozen, the
    # collector's thresholds raised; otherwise the side that allocates more pays for the whole heap.
    gc.collect()
    gc.freeze()
    before = gc.get_threshold()
    gc.set_threshold(*COLLECTOR_THRESHOLDS)
    for _ in range(rounds):
        for name, chosen in (("without", Policy()), ("with", policy)):
            scorer = Scorer(trained, MemoryState())
            scorer.engine.history(transactions, labels)
            scorer.score(warm_up, chosen, lists)  # first calls (Polars' included) are not the steady state
            decided = []
            started = time.perf_counter()
            for i in range(0, len(live), batch):
                decided.append(scorer.score(live[i : i + batch], chosen, lists))
            timings[name].append(time.perf_counter() - started)
            hits += sum(len(d.rules) for decisions in decided for d in decisions) if name == "with" else 0
    gc.set_threshold(*before)
    gc.unfreeze()
    best = {name: min(values) for name, values in timings.items()}
    return {
        "rules": len(policy.rules),
        "batch": batch,
        "transactions": len(live),
        "transactions_per_s_without": round(len(live) / best["without"]),
        "transactions_per_s_with": round(len(live) / best["with"]),
        "cost_share": round(best["with"] / best["without"] - 1, 4),
        "hits_per_transaction": round(hits / rounds / len(live), 4),
        "target_cost_share": 0.10,
    }


def challenger_cost(trained, transactions, labels, live: list[Transaction], batch: int = 500, rounds: int = 3) -> dict:  # type: ignore[no-untyped-def]
    """Transactions/s at `batch` with a challenger scoring each batch in shadow (a model of the
    champion's size), against without, rounds interleaved. Storing its rows is not counted."""
    from datetime import UTC, datetime

    from fraudstream.lifecycle.shadow import Challenger

    challenger = Challenger(trained, trained)
    timings: dict[str, list[float]] = {"without": [], "with": []}
    for _ in range(rounds):
        for name in ("without", "with"):
            scorer = Scorer(trained, MemoryState())
            scorer.engine.history(transactions, labels)
            started = time.perf_counter()
            for i in range(0, len(live), batch):
                part = live[i : i + batch]
                prepared = scorer.prepare(part)
                scorer.commit(prepared).wait()
                prepared.scored.decisions(scorer.version)
                if name == "with":
                    challenger.rows(prepared, [t.transaction_id for t in part], datetime.now(UTC))
            timings[name].append(time.perf_counter() - started)
    best = {name: min(values) for name, values in timings.items()}
    return {
        "batch": batch,
        "transactions_per_s_without": round(len(live) / best["without"]),
        "transactions_per_s_with": round(len(live) / best["with"]),
        "cost_share": round(best["with"] / best["without"] - 1, 4),
    }


if __name__ == "__main__":
    main()
