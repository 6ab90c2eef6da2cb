"""Wiring: settings -> model, feature state, store, decision service, source and worker."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from fraudstream.config import Settings
from fraudstream.features.state.base import FeatureState
from fraudstream.features.state.memory import MemoryState
from fraudstream.model.artifact import Model, ModelLoadError
from fraudstream.scoring import Scorer
from fraudstream.service import DecisionService
from fraudstream.store import Store
from fraudstream.stream import MemoryDeadLetters, MemorySource, StreamWorker
from fraudstream.stream.base import DeadLetterSink, DecisionSink, Source

__all__ = ["Runtime", "build_runtime"]

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """A running fraudstream: the decision service and the stream workers feeding it."""

    settings: Settings
    service: DecisionService
    source: Source
    dead_letters: DeadLetterSink
    workers: list[StreamWorker] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        self._threads = [worker.start() for worker in self.workers]

    def stop(self, timeout: float = 10.0) -> None:
        for worker in self.workers:
            worker.stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self.source.close()

    @property
    def workers_alive(self) -> bool:
        return all(w.alive for w in self.workers)


def build_runtime(
    settings: Settings,
    *,
    model: Model | None = None,
    state: FeatureState | None = None,
    source: Source | None = None,
    dead_letters: DeadLetterSink | None = None,
    sinks: list[DecisionSink] | None = None,
    workers: int = 1,
) -> Runtime:
    if model is None:
        if settings.model_path is None:
            raise ModelLoadError(
                "no model: pass --model DIR or set FRAUDSTREAM_MODEL_PATH (train one with `fraudstream train`)"
            )
        model = Model.load(settings.model_path)
    store = Store(settings.database)
    scorer = Scorer(model, state if state is not None else MemoryState(), n_reasons=settings.n_reasons)
    service = DecisionService(scorer, store)
    source = source if source is not None else MemorySource()
    dead_letters = dead_letters if dead_letters is not None else MemoryDeadLetters()
    runtime = Runtime(settings=settings, service=service, source=source, dead_letters=dead_letters)
    runtime.workers = [
        StreamWorker(
            source,
            service,
            dead_letters,
            sinks or [],
            batch_size=settings.worker_batch_size,
            max_wait=settings.worker_max_wait_ms / 1000,
            max_message_bytes=settings.max_message_bytes,
        )
        for _ in range(workers)
    ]
    log.info(
        "runtime ready",
        extra={"model": model.version, "database": store.engine.url.render_as_string(hide_password=True)},
    )
    return runtime
