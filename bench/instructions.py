"""CPU instructions per event of a stream worker's decision path, counted by callgrind.

    python bench/instructions.py [--batch-sizes 500 20 1] [--events 3000] [--baseline-src DIR]

Needs valgrind, the local Redis and PostgreSQL.

Wall-clock figures on a shared VM drift by a third within minutes, so a change worth
5 % cannot be seen in them. Instruction counts do not drift: the same code, inputs and
environment count the same to a few parts in a thousand, whatever else the machine
is doing. This counts, on the worker's side only, what a stream worker does per batch:
parse each message's JSON into a `Transaction`, `DecisionService.decide` (features over
Redis state, model, reasons, the PostgreSQL statement, the Redis merge, metrics, the
live feed) and each decision's JSON for the decisions topic. Redis's and PostgreSQL's
own work runs in their processes and is not counted, nor the Kafka client.

An instruction is not a unit of time (a cache miss or a wait on a server costs none),
so this says whether a change made the worker's own work smaller; `bench/kafka.py`
says what it sustains.

Each batch size is counted on its own: 500 is a worker behind its backlog, 20 one
keeping up with 2k events/s (what the latency depends on), 1 the HTTP API's single
transaction. Per event, the small batches pay a batch's fixed costs over fewer events.

With --rules PATH (a ruleset, e.g. bench/rules20.yaml), each batch size is counted with that
ruleset in force too (its lists created with 1,000 entries each), and the ratio is its cost.

With --baseline-src DIR (the src/ of another checkout, e.g. a `git worktree`), the same
count for that code, on the same inputs, and the ratio; the baseline scores with the
model its own checkout's benchmarks trained (DIR/../bench/.cache/model, or
--baseline-model), since a model is trained for the features of its code.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from _common import save

ROOT = Path(__file__).parent.parent
INPUTS = Path(__file__).parent / ".cache" / "live_transactions.jsonl"
WARM_UP_BATCHES = 4


def _inputs(n: int) -> Path:
    """Transactions as the worker receives them (JSON), written once and reused."""
    if not INPUTS.exists() or len(INPUTS.read_bytes().split(b"\n")) < n:
        from _world import live_transactions

        INPUTS.parent.mkdir(exist_ok=True)
        INPUTS.write_bytes(b"\n".join(tx.model_dump_json().encode() for tx in live_transactions(n)))
    return INPUTS


def _count(src: Path | None, model: Path, batches: int, batch_size: int, rules: Path | None = None) -> dict[str, Any]:
    """Run the decision loop under callgrind with `src` on the path; instructions per event."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        env = {**os.environ, "PYTHONPATH": str(src)} if src is not None else dict(os.environ)
        command = [
            "valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
            sys.executable, __file__, "--child", "--batches", str(batches), "--batch-sizes", str(batch_size),
            "--model", str(model), *(["--rules", str(rules)] if rules is not None else []),
        ]  # fmt: skip
        started = time.perf_counter()
        run = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if run.returncode != 0:
            raise RuntimeError(f"callgrind run failed:\n{run.stderr[-3000:]}")
        # The file's "summary:" line is 0 when instrumentation starts off; "totals:" holds the count.
        totals = [line for line in out.read_text().splitlines() if line.startswith("totals:")]
        instructions = int(totals[-1].split()[1])
    events = batches * batch_size
    return {
        "src": str(src) if src is not None else "this checkout",
        "instructions_per_event": round(instructions / events),
        "events": events,
        "seconds_under_valgrind": round(time.perf_counter() - started, 1),
    }


def _child(batches: int, batch_size: int, model: Path, rules: Path | None) -> None:
    """The measured loop (run by `_count` under valgrind, instrumentation off until the loop)."""
    import gc

    import redis
    from sqlalchemy import create_engine, text

    sys.path.insert(0, str(ROOT))  # the tests package: service URLs
    from tests.services import POSTGRES_URL, REDIS_URL

    from fraudstream.decide.scorer import Scorer
    from fraudstream.decide.service import DecisionService
    from fraudstream.features.state.redis import RedisState
    from fraudstream.model.artifact import Model
    from fraudstream.schema import Decision, Transaction
    from fraudstream.store import Store

    messages = INPUTS.read_bytes().split(b"\n")
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as c:
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
    state = RedisState(redis.Redis.from_url(REDIS_URL), prefix=f"bench{uuid.uuid4().hex[:8]}")
    store = Store(f"{POSTGRES_URL}?options=-csearch_path%3D{schema}")
    service = DecisionService(Scorer(Model.load(model), state), store)
    if rules is not None:
        from fraudstream.rules.document import load_ruleset

        document = load_ruleset(rules)
        for name in _lists(document):
            store.policies.create_list(name, "customer")
            store.policies.add_entries(name, [f"X{i:08d}" for i in range(1_000)])
        service.rules.save(document, "bench")
    to_json = Decision.__pydantic_serializer__.to_json

    def batch(values: list[bytes]) -> None:
        transactions = [Transaction.model_validate_json(v) for v in values]
        result = service.decide(transactions, path="stream")
        for decision in result.decisions:
            to_json(decision)

    chunks = [messages[i : i + batch_size] for i in range(0, len(messages), batch_size)]
    try:
        for values in chunks[:WARM_UP_BATCHES]:
            batch(values)
        gc.collect()
        gc.freeze()  # as `serve` does once it has started, with its collector settings (if it has any)
        from fraudstream import runtime

        thresholds = getattr(runtime, "COLLECTOR_THRESHOLDS", None)
        if thresholds is not None:
            gc.set_threshold(*thresholds)
        toggle = ["callgrind_control", "--instr={}", str(os.getpid())]
        subprocess.run([a.format("on") for a in toggle], check=True, capture_output=True)
        for values in chunks[WARM_UP_BATCHES : WARM_UP_BATCHES + batches]:
            batch(values)
        subprocess.run([a.format("off") for a in toggle], check=True, capture_output=True)
    finally:
        store.close()
        state.clear()
        with admin.begin() as c:
            c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _lists(document: Any) -> set[str]:
    """The lists a ruleset names."""
    import re

    return {name for rule in document.rules for name in re.findall(r"list\('([^']+)'\)", rule.when)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[500, 20, 1])
    parser.add_argument("--events", type=int, default=3_000, help="events counted per batch size (at most 200 batches)")
    parser.add_argument("--baseline-src", type=Path, help="src/ of another checkout, counted the same way")
    parser.add_argument(
        "--baseline-model", type=Path, help="the baseline's model (default: its checkout's bench cache)"
    )
    parser.add_argument("--rules", type=Path, help="count with this ruleset in force too (its cost)")
    parser.add_argument("--model", type=Path, help=argparse.SUPPRESS)  # the child's
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--batches", type=int, help=argparse.SUPPRESS)  # the child's
    args = parser.parse_args()
    if args.child:
        _child(args.batches, args.batch_sizes[0], args.model, args.rules)
        return
    if args.baseline_src is not None and not (args.baseline_src / "fraudstream" / "__init__.py").exists():
        parser.error(f"--baseline-src {args.baseline_src}: no fraudstream package there (give a checkout's src/)")
    from _world import model

    _, model_dir = model()  # trained and cached here, not under valgrind
    baseline_model = args.baseline_model
    if args.baseline_src is not None and baseline_model is None:
        baseline_model = args.baseline_src.resolve().parent / "bench" / ".cache" / "model"
    if baseline_model is not None and not (baseline_model / "manifest.json").exists():
        parser.error(f"no baseline model at {baseline_model}: run the baseline checkout's bench/scorer.py once")
    sizes: dict[str, Any] = {}
    for size in args.batch_sizes:
        batches = max(1, min(args.events // size, 200))
        _inputs((WARM_UP_BATCHES + batches) * size)
        result: dict[str, Any] = {"this": _count(None, model_dir, batches, size)}
        if args.rules is not None:
            result["with_rules"] = _count(None, model_dir, batches, size, args.rules.resolve())
            result["rules_cost"] = round(
                result["with_rules"]["instructions_per_event"] / result["this"]["instructions_per_event"] - 1, 4
            )
        if args.baseline_src is not None and baseline_model is not None:
            result["baseline"] = _count(args.baseline_src.resolve(), baseline_model, batches, size)
            result["this_over_baseline"] = round(
                result["this"]["instructions_per_event"] / result["baseline"]["instructions_per_event"], 4
            )
        sizes[str(size)] = result
    save("instructions", {"by_batch_size": sizes})


if __name__ == "__main__":
    main()
