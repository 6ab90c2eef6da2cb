"""Model quality, measured the way fraud teams do: a time split with a gap for late labels.

    python bench/model.py [--customers 30000] [--days 40]

Runs the command line as a user would (`simulate`, then `evaluate --json`) on:
1. a simulated world of over a million transactions (recall per fraud scenario included),
   with the time split and, for comparison only, a random split (which leaks the future);
2. a file shaped like the public ULB credit-card data set (`--preset ulb`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import save

CLI = [sys.executable, "-m", "fraudstream.cli"]


def evaluate(*args: str) -> dict[str, Any]:
    started = time.perf_counter()
    out = subprocess.run([*CLI, "evaluate", "--json", *args], check=True, capture_output=True, text=True).stdout
    metrics: dict[str, Any] = json.loads(out)
    metrics["seconds"] = round(time.perf_counter() - started, 1)
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=30_000)
    parser.add_argument("--merchants", type=int, default=3_000)
    parser.add_argument("--days", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        world, ulb = Path(tmp) / "world.parquet", Path(tmp) / "creditcard.csv"
        subprocess.run(
            [
                *CLI,
                "simulate",
                "--customers",
                str(args.customers),
                "--merchants",
                str(args.merchants),
                "--days",
                str(args.days),
                "--seed",
                str(args.seed),
                "--out",
                str(world),
            ],
            check=True,
            capture_output=True,
        )
        labels = world.with_name("world.labels.parquet")
        time_split = evaluate("--data", str(world), "--labels", str(labels))
        random_split = evaluate("--data", str(world), "--labels", str(labels), "--split", "random")
        subprocess.run([*CLI, "simulate", "--shape", "ulb", "--out", str(ulb)], check=True, capture_output=True)
        ulb_metrics = evaluate("--data", str(ulb), "--preset", "ulb")
    save(
        "model",
        {
            "world": {"customers": args.customers, "merchants": args.merchants, "days": args.days, "seed": args.seed},
            "time_split": time_split,
            "random_split_for_comparison": random_split,
            "ulb_shaped": ulb_metrics,
        },
    )


if __name__ == "__main__":
    main()
