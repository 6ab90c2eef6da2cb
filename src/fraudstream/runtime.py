"""Wiring: settings -> model, feature state, store, decision service, source and worker."""

from __future__ import annotations

import gc
import logging
import threading
from dataclasses import dataclass, field

from fraudstream.config import Settings
from fraudstream.decide.scorer import Scorer
from fraudstream.decide.service import DecisionService
from fraudstream.features.state.base import FeatureState
from fraudstream.features.state.memory import MemoryState
from fraudstream.lifecycle.in_force import ChallengerInForce, ModelInForce
from fraudstream.lifecycle.registry import Registry
from fraudstream.model.artifact import Model, ModelLoadError
from fraudstream.rules.document import load_ruleset
from fraudstream.store import Store
from fraudstream.stream import MemoryDeadLetters, MemorySource, StreamWorker
from fraudstream.stream.base import DeadLetterSink, DecisionSink, Source

__all__ = ["Runtime", "build_runtime"]

log = logging.getLogger(__name__)

#: The garbage collector's thresholds while a runtime runs (Python's default: 700, 10, 10).
COLLECTOR_THRESHOLDS = (10_000, 10, 10)


class _Collector:
    """The collector's settings are the process's: tuned while any runtime runs, given
    back as they were when the last one stops."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._before: tuple[int, int, int] = gc.get_threshold()

    def tune(self) -> None:
        with self._lock:
            if self._running == 0:
                self._before = gc.get_threshold()
                # A batch allocates tens of thousands of short-lived objects, which reference
                # counting frees; the collector's frequent passes went over the live ones again and again.
                gc.set_threshold(*COLLECTOR_THRESHOLDS)
            self._running += 1
            # Everything loaded so far (model, libraries, warmed state) lives as long as the
            # process: keep it out of the collector's full passes, which otherwise stall a batch.
            gc.freeze()

    def give_back(self) -> None:
        with self._lock:
            self._running -= 1
            if self._running == 0:
                # What was frozen may hold this runtime's clients in reference cycles: let the
                # collector have them now, while the brokers they talk to are still there.
                gc.unfreeze()
                gc.set_threshold(*self._before)
                gc.collect()


_COLLECTOR = _Collector()


@dataclass
class Runtime:
    """A running fraudstream: the decision service and the stream workers feeding it."""

    settings: Settings
    service: DecisionService
    workers: list[StreamWorker] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)

    @property
    def source(self) -> Source:
        """The first worker's source (the only one with the in-process transport)."""
        return self.workers[0].source

    @property
    def dead_letters(self) -> DeadLetterSink:
        return self.workers[0].dead_letters

    def lag(self) -> int | None:
        lags = [w.source.lag() for w in self.workers]
        return None if any(lag is None for lag in lags) else sum(lag for lag in lags if lag is not None)

    def start(self) -> None:
        if any(thread.is_alive() for thread in self._threads):
            raise RuntimeError("the runtime is running already")
        _COLLECTOR.tune()
        self._threads = [worker.start() for worker in self.workers]

    def stop(self, timeout: float = 15.0) -> None:
        """Each worker finishes its batch (stored, published, committed); then sources and sinks are closed."""
        for worker in self.workers:
            worker.stop.set()
        for thread in self._threads:
            thread.join(timeout)
        closed = set()
        for worker in self.workers:
            for part in (worker.source, worker.dead_letters, *worker.sinks):
                close = getattr(part, "close", None)
                if close is not None and id(part) not in closed:
                    close()
                    closed.add(id(part))
        if self._threads:
            self._threads = []
            _COLLECTOR.give_back()

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
    """Everything `settings` describe; tests and the demo pass their own model, state or source.

    Without a model (given, or `model_path`), the process serves the registry's champion and
    follows it: a promotion takes effect at the next batch boundary.
    """
    store = Store(settings.database)
    store.cases.configure(settings.case_outcomes, settings.case_sla_hours)
    registry = Registry(settings.models_dir)
    follow = model is None and settings.model_path is None
    if model is None:
        model = _first_model(settings, store, registry)
    if state is None:
        state = _state(settings)
    scorer = Scorer(model, state, n_reasons=settings.n_reasons)
    service = DecisionService(scorer, store)
    if follow:
        service.models = ModelInForce(registry, store.champions, model.version, settings.rules_refresh_s)
    service.challengers = ChallengerInForce(registry, store.champions, settings.rules_refresh_s)
    if settings.challenger is not None and store.champions.challenger() != settings.challenger:
        if settings.challenger not in {m.version for m in registry.versions()}:
            raise ModelLoadError(f"challenger {settings.challenger} is not registered in {registry.root}")
        store.champions.set_challenger(settings.challenger, "serve --challenger")
    service.rules.every = settings.rules_refresh_s
    if settings.rules is not None:
        service.rules.save_if_changed(load_ruleset(settings.rules), f"file:{settings.rules.name}")
    service.rules.refresh(force=True)
    if source is None and settings.source == "kafka":
        transports = [_kafka(settings) for _ in range(workers)]
    else:
        # The in-process transport: one queue that every worker thread reads.
        shared = source if source is not None else MemorySource()
        letters = dead_letters if dead_letters is not None else MemoryDeadLetters()
        transports = [(shared, letters, list(sinks or [])) for _ in range(workers)]
    runtime = Runtime(settings=settings, service=service)
    runtime.workers = [
        StreamWorker(
            worker_source,
            service,
            worker_letters,
            worker_sinks,
            batch_size=settings.worker_batch_size,
            max_wait=settings.worker_max_wait_ms / 1000,
            max_message_bytes=settings.max_message_bytes,
            max_future=settings.max_future,
        )
        for worker_source, worker_letters, worker_sinks in transports
    ]
    log.info(
        "runtime ready",
        extra={
            "model": model.version,
            "database": store.engine.url.render_as_string(hide_password=True),
            "state": type(state).__name__,
            "source": settings.source if source is None else type(source).__name__,
            "workers": workers,
            "ruleset": service.rules.policy.version,
        },
    )
    return runtime


def _first_model(settings: Settings, store: Store, registry: Registry) -> Model:
    if settings.model_path is not None:
        return Model.load(settings.model_path)
    champion = store.champions.champion()
    if champion is None:
        raise ModelLoadError(
            "no model: pass --model DIR (or FRAUDSTREAM_MODEL_PATH), or register and promote one "
            f"(`fraudstream models add DIR`, `fraudstream models promote VERSION`; registry {registry.root})"
        )
    return registry.load(champion)


def _state(settings: Settings) -> FeatureState:
    if settings.redis_url is None:
        return MemoryState()
    try:
        from fraudstream.features.state.redis import RedisState
    except ImportError:
        raise RuntimeError("Redis feature state needs redis-py: pip install 'fraudstream[redis]'") from None

    return RedisState(settings.redis_url, prefix=settings.state_prefix, dedup_ttl_s=settings.dedup_ttl_hours * 3600)


def _kafka(settings: Settings) -> tuple[Source, DeadLetterSink, list[DecisionSink]]:
    """One consumer per worker (the group splits the partitions), with its own producers."""
    try:
        from fraudstream.stream.kafka import KafkaDeadLetters, KafkaDecisionSink, KafkaSettings, KafkaSource
    except ImportError:
        raise RuntimeError("--source kafka needs confluent-kafka: pip install 'fraudstream[kafka]'") from None

    kafka = KafkaSettings.from_settings(settings)
    return KafkaSource(kafka), KafkaDeadLetters(kafka), [KafkaDecisionSink(kafka)]
