"""Backtest speed: `fraudstream backtest` with 20 rules against `fraudstream evaluate` on the
same simulated history (~1M transactions), both run as a user would, in the same run.

python bench/backtest.py [--customers 30000] [--days 28]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import save

CLI = [sys.executable, "-m", "fraudstream.cli"]
RULES = Path(__file__).parent / "rules20.yaml"


def run(*args: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run([*CLI, *args], capture_output=True, text=True, check=True)
    return time.perf_counter() - started, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=30_000)
    parser.add_argument("--days", type=int, default=28)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        data, model, database = work / "history.parquet", work / "model", f"sqlite:///{work / 'policy.db'}"
        run("simulate", "--out", str(data), "--customers", str(options.customers), "--days", str(options.days))
        labels = data.with_name("history.labels.parquet")
        run("train", "--data", str(data), "--labels", str(labels), "--out", str(model))
        for name, kind in (("blocked_devices", "device"), ("trusted_customers", "customer")):
            run("lists", "add", name, "none", "--kind", kind, "--database", database)
        evaluate_s, _ = run("evaluate", "--data", str(data), "--labels", str(labels), "--json")
        backtest_s, out = run(
            "backtest", "--rules", str(RULES), "--model", str(model), "--data", str(data),
            "--labels", str(labels), "--database", database, "--json",
        )  # fmt: skip
    result = json.loads(out)
    save(
        "backtest",
        {
            "transactions": result["transactions"],
            "rules": len(result["rules"]),
            "backtest_s": round(backtest_s, 1),
            "evaluate_s": round(evaluate_s, 1),
            "ratio_to_evaluate": round(backtest_s / evaluate_s, 3),
            "target_ratio": 2.0,
            "transactions_per_s": round(result["transactions"] / backtest_s),
            "note": "both as CLI processes (start-up and file reading included); evaluate trains and scores",
        },
    )


if __name__ == "__main__":
    main()
