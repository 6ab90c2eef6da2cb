"""Where API requests are decided: on the event loop when small and free, else in the pool's threads."""

from __future__ import annotations

import threading
from typing import Any

import anyio
import pytest
from fastapi import HTTPException

from fraudstream.api.pool import INLINE_BYTES, ScoringPool
from fraudstream.decide.service import DecisionService


class Service:
    """The part of `DecisionService` the pool uses: whether a batch is being decided."""

    if_free = DecisionService.if_free

    def __init__(self) -> None:
        self._lock = threading.RLock()


def where(pool: ScoringPool, service: Any, body_bytes: int) -> str:
    async def main() -> str:
        loop = threading.get_ident()
        ran = await pool.run(service, body_bytes, threading.get_ident)
        return "loop" if ran == loop else "thread"

    return anyio.run(main)


def test_small_requests_run_on_the_loop_only_while_the_service_is_free() -> None:
    pool, service = ScoringPool(threads=2, queue=4), Service()
    assert where(pool, service, 300) == "loop"
    assert where(pool, service, INLINE_BYTES + 1) == "thread"
    busy = threading.Event()
    release = threading.Event()

    def decide_a_batch() -> None:
        with service._lock:
            busy.set()
            release.wait(10)

    other = threading.Thread(target=decide_a_batch)
    other.start()
    busy.wait(10)
    try:
        assert where(pool, service, 300) == "thread"  # would block the loop behind the batch
    finally:
        release.set()
        other.join()


def test_past_the_queue_requests_get_503_with_retry_after() -> None:
    pool, service = ScoringPool(threads=1, queue=2), Service()
    gate = threading.Event()
    outcomes: list[int] = []

    async def main() -> None:
        async def request() -> None:
            try:
                await pool.run(service, INLINE_BYTES + 1, lambda: gate.wait(10))
                outcomes.append(200)
            except HTTPException as exc:
                assert exc.headers == {"Retry-After": "1"}
                outcomes.append(exc.status_code)

        async with anyio.create_task_group() as tasks:
            for _ in range(5):  # one deciding, two waiting, two turned away
                tasks.start_soon(request)
                await anyio.sleep(0.05)
            assert pool.load() == {"deciding": 1, "waiting": 2, "saturated": True}
            gate.set()

    anyio.run(main)
    assert sorted(outcomes) == [200, 200, 200, 503, 503]
    assert pool.load()["deciding"] == 0


@pytest.mark.parametrize("threads", [1, 3])
def test_the_pool_runs_at_most_its_threads_at_once(threads: int) -> None:
    pool, service = ScoringPool(threads=threads, queue=50), Service()
    running, most = [0], [0]
    lock = threading.Lock()

    def work() -> None:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        threading.Event().wait(0.05)
        with lock:
            running[0] -= 1

    async def main() -> None:
        async with anyio.create_task_group() as tasks:
            for _ in range(8):
                tasks.start_soon(pool.run, service, INLINE_BYTES + 1, work)

    anyio.run(main)
    assert most[0] == threads
