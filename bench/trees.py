"""The model step of a live batch: XGBoost's three calls against the compiled trees.

    python bench/trees.py [--repeats 200]

Scores and approximate (Saabas) contributions for the same rows, both ways, timed in
turns (so a change in the machine's speed hits both alike), best of --repeats: XGBoost
builds a DMatrix, predicts and computes the contributions (what the scorer did before
`fraudstream.model.trees`); the compiled trees do it in one loop. The rows are the
features of live transactions; the two results are checked equal before timing.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from _common import save
from _world import history, live_transactions, model
from fraudstream.decide.scorer import Scorer
from fraudstream.features import MemoryState


def _best(action: Callable[[], Any], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    trained, _ = model()
    trained.serve_single_threaded()  # as a worker scores: one XGBoost thread per call
    assert trained.trees is not None, "the benchmark model is one the compiled trees cover"
    scorer = Scorer(trained, MemoryState())
    scorer.engine.history(*history())
    X = scorer.prepare(live_transactions(500)).scored.features

    def xgboost(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        matrix = trained.matrix(rows)
        scores = np.asarray(trained.booster.predict(matrix, validate_features=False), dtype=np.float64)
        return scores, trained.contributions(matrix, exact=False)

    by_size: dict[str, Any] = {}
    for size in (1, 20, 500):
        rows = X[:size]
        compiled = trained.scores_and_fast_contributions(rows)
        reference = xgboost(rows)
        assert all(np.array_equal(a, b) for a, b in zip(compiled, reference, strict=True)), "results differ"
        timings = {"xgboost": float("inf"), "compiled": float("inf")}
        for _ in range(5):  # in turns
            timings["xgboost"] = min(timings["xgboost"], _best(lambda rows=rows: xgboost(rows), args.repeats // 5))
            timings["compiled"] = min(
                timings["compiled"],
                _best(lambda rows=rows: trained.scores_and_fast_contributions(rows), args.repeats // 5),
            )
        by_size[str(size)] = {
            "xgboost_ms": round(timings["xgboost"] * 1000, 4),
            "compiled_ms": round(timings["compiled"] * 1000, 4),
            "compiled_over_xgboost": round(timings["compiled"] / timings["xgboost"], 3),
        }
    save(
        "trees",
        {
            "model": trained.version,
            "trees": trained.booster.num_boosted_rounds(),
            "features": len(trained.features.names),
            "by_batch_size": by_size,
            "note": "scores + approximate contributions of one batch, best of the repeats; results checked equal",
        },
    )


if __name__ == "__main__":
    main()
