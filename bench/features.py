"""Feature engine speed, memory state: offline (a history) and online (batches of Transactions).

    python bench/features.py [--customers N] [--days D]

One process, one thread: transactions per second is per core.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from _common import save
from fraudstream.features import Events, FeatureEngine, FeatureSet
from fraudstream.schema import Transaction
from fraudstream.simulate import World, WorldConfig

ALL_INPUTS = ["customer", "merchant", "terminal", "device", "location", "channel", "category"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--merchants", type=int, default=2_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--online-events", type=int, default=100_000)
    args = parser.parse_args()

    world = World(WorldConfig(customers=args.customers, merchants=args.merchants))
    transactions, labels = world.generate(args.days)
    features = FeatureSet.for_inputs(ALL_INPUTS, categories=sorted(transactions["merchant_category"].unique()))
    FeatureEngine(features).history(transactions.head(1_000), labels)  # compile / load the numba cache

    started = time.perf_counter()
    FeatureEngine(features).history(transactions, labels)
    offline_s = time.perf_counter() - started

    # Online: warm the state with the first part, then score the rest batch by batch,
    # starting from Transaction objects as the API and the stream worker do.
    split = len(transactions) - args.online_events
    records = transactions.iloc[split:].to_dict("records")
    wire = [Transaction.model_validate({k: v for k, v in r.items() if v is not None and v == v}) for r in records]
    online = {}
    for batch in (1, 10, 100, 1_000):
        engine = FeatureEngine(features)
        engine.history(transactions.iloc[:split])
        n = min(len(wire), 20_000 if batch == 1 else len(wire))
        started = time.perf_counter()
        for i in range(0, n, batch):
            engine.process(Events.from_transactions(wire[i : i + batch]))
        elapsed = time.perf_counter() - started
        online[str(batch)] = {
            "transactions_per_s": round(n / elapsed),
            "ms_per_batch": round(1000 * elapsed / (n / batch), 4),
        }

    save(
        "features",
        {
            "transactions": len(transactions),
            "labels": len(labels),
            "features": len(features.names),
            "offline": {
                "seconds": round(offline_s, 2),
                "transactions_per_s": round(len(transactions) / offline_s),
            },
            "online_by_batch_size": online,
            "target_transactions_per_s": 50_000,
            "state": "memory",
            "threads": 1,
            "numpy": np.__version__,
        },
    )


if __name__ == "__main__":
    main()
