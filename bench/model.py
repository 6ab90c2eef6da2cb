"""Model quality, measured the way fraud teams do: a time split with a gap for late labels.

    python bench/model.py [--baseline-src DIR] [--seeds 7,1,2,3]

Runs the command line as a user would (`simulate`, then `evaluate --json`) on every
kind of history it can make:
1. worlds the size of `make demo`'s (3,000 customers, 60 days), one per seed (seed 7
   is the demo's own), and a larger one (30,000 customers, 40 days), with recall per
   fraud scenario; the large one also with a random split, for comparison only (it
   leaks the future);
2. files shaped like the public ULB credit-card data set (`--preset ulb`);
3. a file shaped like the Fraud Detection Handbook's simulated data (terminals
   compromised for 28 days, labels known 7 days late), with the handbook's own
   baseline on the same split: a logistic regression on its 15 textbook features.

With --baseline-src (the src/ of another checkout, e.g. a `git worktree` of an older
commit) every history is also evaluated by that code, in the same run, so that the
two are compared on the same data and split.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from _common import save
from _handbook import textbook_baseline
from _handbook import write as write_handbook

CLI = [sys.executable, "-m", "fraudstream.cli"]
SCENARIO = "compromised_terminal"


def run(*args: str, src: str | None = None) -> str:
    env = {**os.environ, "PYTHONPATH": src} if src else None
    return subprocess.run([*CLI, *args], check=True, capture_output=True, text=True, env=env).stdout


def evaluate(args: list[str], src: str | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    metrics: dict[str, Any] = json.loads(run("evaluate", "--json", *args, src=src))
    metrics["seconds"] = round(time.perf_counter() - started, 1)
    return metrics


def summary(metrics: dict[str, Any]) -> dict[str, Any]:
    """What the comparison table shows of one evaluation."""
    scenarios = metrics.get("recall_by_scenario", {})
    out = {
        "average_precision": metrics["average_precision"],
        "roc_auc": metrics["roc_auc"],
        "precision": metrics["precision"],
        "recall": metrics["recall"],
        "frauds_test": metrics.get("n_frauds_test", metrics.get("true_positives", 0) + metrics["false_negatives"]),
        "recall_by_scenario": {k: v["recall"] for k, v in scenarios.items()},
    }
    after = scenarios.get(SCENARIO, {}).get("after_terminal_report")
    if after:
        out[f"{SCENARIO}_after_report"] = after
    return out


def compare(name: str, args: list[str], baseline: str | None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    new = evaluate(args)
    row: dict[str, Any] = {"history": name, "new": summary(new), "new_full": new, **(extra or {})}
    if baseline:
        old = evaluate(args, src=baseline)
        row["old"], row["old_full"] = summary(old), old
        row["ap_ratio"] = new["average_precision"] / old["average_precision"]
    print(json.dumps({k: v for k, v in row.items() if not k.endswith("_full")}), file=sys.stderr, flush=True)
    return row


def pooled_scenario(rows: list[dict[str, Any]], which: str) -> dict[str, float]:
    """The compromised-terminal recall over several worlds' test frauds together."""
    caught = frauds = after_caught = after_frauds = 0.0
    for row in rows:
        scenario = row[f"{which}_full"]["recall_by_scenario"].get(SCENARIO) if f"{which}_full" in row else None
        if scenario is None:
            continue
        frauds += scenario["frauds"]
        caught += scenario["recall"] * scenario["frauds"]
        after = scenario.get("after_terminal_report")
        if after and after["frauds"]:
            after_frauds += after["frauds"]
            after_caught += after["recall"] * after["frauds"]
    pooled = {"frauds": frauds, "recall": caught / frauds if frauds else float("nan")}
    if after_frauds:  # code that reports it
        pooled |= {
            "after_report_frauds": after_frauds,
            "after_report_share": after_frauds / frauds,
            "after_report_recall": after_caught / after_frauds,
        }
    return pooled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--baseline-src", help="src/ of the code to compare with, in the same run")
    parser.add_argument("--seeds", default="7,1,2,3", help="seeds of the demo-sized worlds")
    parser.add_argument("--customers", type=int, default=30_000, help="customers of the large world")
    parser.add_argument("--merchants", type=int, default=3_000)
    parser.add_argument("--days", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1, help="seed of the large world")
    args = parser.parse_args()
    baseline = str(Path(args.baseline_src).resolve()) if args.baseline_src else None

    rows: list[dict[str, Any]] = []
    demo_rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for seed in [int(s) for s in args.seeds.split(",")]:
            path = folder / f"demo{seed}.parquet"
            run(
                "simulate", "--customers", "3000", "--merchants", "300", "--days", "60",
                "--seed", str(seed), "--out", str(path),
            )  # fmt: skip
            labels = path.with_name(f"demo{seed}.labels.parquet")
            row = compare(f"demo-sized world, seed {seed}", ["--data", str(path), "--labels", str(labels)], baseline)
            demo_rows.append(row)
            rows.append(row)
        world = folder / "world.parquet"
        run(
            "simulate", "--customers", str(args.customers), "--merchants", str(args.merchants),
            "--days", str(args.days), "--seed", str(args.seed), "--out", str(world),
        )  # fmt: skip
        world_args = ["--data", str(world), "--labels", str(world.with_name("world.labels.parquet"))]
        large = compare(f"world of {args.customers:,} customers, {args.days} days", world_args, baseline)
        rows.append(large)
        random_split = evaluate([*world_args, "--split", "random"])
        for seed in (0, 1):
            ulb = folder / f"creditcard{seed}.csv"
            run("simulate", "--shape", "ulb", "--seed", str(seed), "--out", str(ulb))
            rows.append(compare(f"ULB-shaped, seed {seed}", ["--data", str(ulb), "--preset", "ulb"], baseline))
        handbook = folder / "handbook.csv"
        mapping = write_handbook(handbook)
        handbook_args = ["--data", str(handbook), *[x for m in mapping for x in ("--map", m)]]
        row = compare("Handbook-shaped", handbook_args, baseline)
        split = row["new_full"]["split"]
        row["textbook_logistic_regression"] = textbook_baseline(
            pd.read_csv(handbook), split["train_end"], split["test_start"], split["test_end"]
        )
        rows.append(row)

    save(
        "model",
        {
            "baseline_src": baseline,
            "histories": rows,
            f"{SCENARIO}_pooled_demo_sized": {
                "new": pooled_scenario(demo_rows, "new"),
                **({"old": pooled_scenario(demo_rows, "old")} if baseline else {}),
            },
            "large_world_random_split_for_comparison": summary(random_split),
        },
    )


if __name__ == "__main__":
    main()
