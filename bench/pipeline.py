"""End to end through the embedded pipeline, against the seed systems' design, in one run.

    python bench/pipeline.py [--rate 500] [--seconds 30]

ours:  events -> in-process queue -> stream worker (batches) -> features -> model ->
       decision stored (SQLite) and published (live feed)
seed:  events -> queue -> a consumer that POSTs each event to the scoring API
       (`fraudstream serve` in its own process, which stores and publishes the same way)

Latency is from the event's creation to its decision stored and published. Each design
is measured at a fixed offered rate (latency) and flat out (throughput).
"""

from __future__ import annotations

import argparse
import itertools
import queue
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from _common import save
from _server import ServeProcess
from _world import live_transactions, model
from fraudstream.config import Settings
from fraudstream.runtime import build_runtime
from fraudstream.stream import MemorySource


def percentiles(latencies_ms: list[float]) -> dict[str, float]:
    a = np.array(latencies_ms)
    return {f"p{q}_ms": round(float(np.percentile(a, q)), 3) for q in (50, 90, 99)} | {
        "max_ms": round(float(a.max()), 3)
    }


def ours(bodies: list[bytes], rate: float | None, trained: Any) -> dict[str, Any]:
    runtime = build_runtime(Settings(home=Path(tempfile.mkdtemp())), model=trained)
    latencies: list[float] = []
    runtime.service.feed = _Collector(latencies)
    runtime.start()
    source = runtime.source
    assert isinstance(source, MemorySource)
    started = time.perf_counter()
    for i, body in enumerate(bodies):
        if rate:
            ahead = started + i / rate - time.perf_counter()
            if ahead > 0:
                time.sleep(ahead)
        source.put(body)
    while runtime.workers[0].processed < len(bodies):
        time.sleep(0.005)
    elapsed = time.perf_counter() - started
    runtime.stop()
    return {"events": len(bodies), "events_per_s": round(len(bodies) / elapsed), **percentiles(latencies)}


class _Collector:
    """Stands in for the live feed and records each decision's end-to-end latency."""

    def __init__(self, latencies: list[float]) -> None:
        self.latencies = latencies

    def publish(self, items: list[Any]) -> None:
        self.latencies.extend(latency for _, _, latency in items if latency is not None)


def seed_design(bodies: list[bytes], rate: float | None, server: ServeProcess) -> dict[str, Any]:
    """One HTTP call per event, from a consumer thread, as the seed systems do."""
    events: queue.Queue[tuple[float, bytes] | None] = queue.Queue()
    latencies: list[float] = []

    def consumer() -> None:
        conn = server.connection()
        while (item := events.get()) is not None:
            created, body = item
            status, _ = server.request("POST", "/v1/score", body, conn)
            assert status == 200
            latencies.append((time.time() - created) * 1000)

    thread = threading.Thread(target=consumer)
    thread.start()
    started = time.perf_counter()
    for i, body in enumerate(bodies):
        if rate:
            ahead = started + i / rate - time.perf_counter()
            if ahead > 0:
                time.sleep(ahead)
        events.put((time.time(), body))
    events.put(None)
    thread.join()
    elapsed = time.perf_counter() - started
    return {"events": len(bodies), "events_per_s": round(len(bodies) / elapsed), **percentiles(latencies)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--flat-out", type=int, default=20_000, help="events for the throughput runs")
    parser.add_argument(
        "--gentle-rate", type=float, default=200.0, help="a rate the seed design keeps up with, to compare latency"
    )
    args = parser.parse_args()

    trained, path = model()
    paced = int(args.rate * args.seconds)
    gentle = int(args.gentle_rate * args.seconds)
    sizes = [paced, gentle, args.flat_out, paced, gentle, args.flat_out // 4]
    transactions = live_transactions(sum(sizes))
    bodies = [tx.model_dump_json().encode() for tx in transactions]
    # Distinct transactions for every run: a repeated id would be answered from the store.
    cuts = np.cumsum([0, *sizes])
    runs = [bodies[a:b] for a, b in itertools.pairwise(cuts)]

    result_ours = {
        "at_rate": ours(runs[0], args.rate, trained),
        "at_gentle_rate": ours(runs[1], args.gentle_rate, trained),
        "flat_out": ours(runs[2], None, trained),
    }
    server = ServeProcess(path, warm=False)
    try:
        result_seed = {
            "at_rate": seed_design(runs[3], args.rate, server),
            "at_gentle_rate": seed_design(runs[4], args.gentle_rate, server),
            "flat_out": seed_design(runs[5], None, server),
        }
    finally:
        server.stop()
    save(
        "pipeline",
        {
            "offered_rate": args.rate,
            "gentle_rate": args.gentle_rate,
            "ours": result_ours,
            "seed_design_http_per_event": result_seed,
            "ratios": {
                "throughput_ours_over_seed": round(
                    result_ours["flat_out"]["events_per_s"] / result_seed["flat_out"]["events_per_s"], 1
                ),
                "p50_at_gentle_rate_seed_over_ours": round(
                    result_seed["at_gentle_rate"]["p50_ms"] / result_ours["at_gentle_rate"]["p50_ms"], 1
                ),
                "p99_at_gentle_rate_seed_over_ours": round(
                    result_seed["at_gentle_rate"]["p99_ms"] / result_ours["at_gentle_rate"]["p99_ms"], 1
                ),
                "p99_at_rate_seed_over_ours": round(
                    result_seed["at_rate"]["p99_ms"] / result_ours["at_rate"]["p99_ms"], 1
                ),
            },
            "target": "ours p99 < 25 ms at 500 events/s",
            "state": "memory feature state starting empty; SQLite store",
        },
    )


if __name__ == "__main__":
    main()
