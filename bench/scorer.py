"""Scorer speed in-process, memory state: features + model + reasons, per core.

python bench/scorer.py
"""

from __future__ import annotations

import time

import numpy as np

from _common import save
from _world import history, live_transactions, model
from fraudstream.decide.scorer import Scorer
from fraudstream.features import MemoryState
from fraudstream.schema import Outcome


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
    save(
        "scorer",
        {
            "model": trained.version,
            "trees": trained.booster.num_boosted_rounds(),
            "features": len(trained.features.names),
            "by_batch_size": results,
            "target_transactions_per_s": 20_000,
            "note": "features + XGBoost + reasons (exact TreeSHAP for flagged, approximate for approved)",
            "threads": 1,
            "numpy": np.__version__,
        },
    )


if __name__ == "__main__":
    main()
