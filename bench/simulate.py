"""Synthetic world generation speed (transactions per second, one process).

python bench/simulate.py [--customers N] [--days D] [--repeat R]
"""

from __future__ import annotations

import argparse
import time

from _common import save
from fraudstream.simulate import World, WorldConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--merchants", type=int, default=5_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    config = WorldConfig(customers=args.customers, merchants=args.merchants)
    started = time.perf_counter()
    world = World(config)
    build_s = time.perf_counter() - started

    runs = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        transactions, labels = world.generate(args.days)
        runs.append(time.perf_counter() - started)
    best = min(runs)
    save(
        "simulate",
        {
            "customers": args.customers,
            "merchants": args.merchants,
            "days": args.days,
            "transactions": len(transactions),
            "fraud_labels": len(labels),
            "world_build_s": round(build_s, 3),
            "generate_s": [round(r, 3) for r in runs],
            "transactions_per_s": round(len(transactions) / best),
            "target_transactions_per_s": 200_000,
        },
    )


if __name__ == "__main__":
    main()
