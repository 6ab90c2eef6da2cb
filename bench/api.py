"""HTTP API latency and throughput: `fraudstream serve` in its own process, one server process.

    python bench/api.py [--requests N]

Closed loop (one request in flight) with a keep-alive stdlib client, so the figures are
the server's plus loopback, not a heavy client's. Last, liveness under load: `/healthz`
asked every few milliseconds while another connection sends batches of 1,000.
"""

from __future__ import annotations

import argparse
import threading
import time

import numpy as np

from _common import save
from _server import ServeProcess
from _world import live_transactions, model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=5_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--batches", type=int, default=30)
    args = parser.parse_args()

    trained, path = model()
    live = live_transactions(args.requests + 500 + args.batch * args.batches * 2)
    bodies = [tx.model_dump_json().encode() for tx in live]
    server = ServeProcess(path)
    try:
        conn = server.connection()
        for body in bodies[:500]:  # warm-up
            server.request("POST", "/v1/score", body, conn)
        latencies = []
        for body in bodies[500 : 500 + args.requests]:
            started = time.perf_counter()
            status, _ = server.request("POST", "/v1/score", body, conn)
            latencies.append(time.perf_counter() - started)
            assert status == 200
        single = np.array(latencies) * 1000

        rest = live[500 + args.requests :]
        started = time.perf_counter()
        for i in range(args.batches):
            chunk = rest[i * args.batch : (i + 1) * args.batch]
            payload = ("[" + ",".join(tx.model_dump_json() for tx in chunk) + "]").encode()
            status, _ = server.request("POST", "/v1/score", payload, conn)
            assert status == 200
        batch_s = time.perf_counter() - started
        health = liveness(server, rest[args.batch * args.batches :], args.batch)
    finally:
        server.stop()

    save(
        "api",
        {
            "model": trained.version,
            "single": {
                "requests": len(single),
                "p50_ms": round(float(np.percentile(single, 50)), 3),
                "p90_ms": round(float(np.percentile(single, 90)), 3),
                "p99_ms": round(float(np.percentile(single, 99)), 3),
                "max_ms": round(float(single.max()), 3),
                "requests_per_s": round(len(single) / (single.sum() / 1000)),
                "target": "p50 < 2 ms, p99 < 10 ms",
            },
            "batch": {
                "transactions_per_request": args.batch,
                "requests": args.batches,
                "transactions_per_s": round(args.batch * args.batches / batch_s),
                "target": ">= 10k transactions/s",
            },
            "healthz_while_scoring_batches": {
                "transactions_per_batch": args.batch,
                "probes": len(health),
                "p50_ms": round(float(np.percentile(health, 50)), 3),
                "p99_ms": round(float(np.percentile(health, 99)), 3),
                "max_ms": round(float(health.max()), 3),
                "target": "p99 < 20 ms",
            },
            "server": "fraudstream serve, 1 uvicorn process, SQLite store, memory feature state warmed with 30 days",
        },
    )


def liveness(server: ServeProcess, transactions: list, batch: int) -> np.ndarray:
    """/healthz latencies (ms), asked every 5 ms while another connection sends batches back to back."""
    bodies = [
        ("[" + ",".join(tx.model_dump_json() for tx in transactions[i : i + batch]) + "]").encode()
        for i in range(0, len(transactions) - batch + 1, batch)
    ]
    done = threading.Event()

    def load() -> None:
        conn = server.connection()
        for body in bodies:
            status, _ = server.request("POST", "/v1/score", body, conn)
            assert status == 200
        done.set()

    sender = threading.Thread(target=load)
    sender.start()
    conn = server.connection()
    latencies = []
    while not done.is_set():
        started = time.perf_counter()
        status, _ = server.request("GET", "/healthz", None, conn)
        latencies.append(time.perf_counter() - started)
        assert status == 200
        time.sleep(0.005)
    sender.join()
    return np.array(latencies) * 1000


if __name__ == "__main__":
    main()
