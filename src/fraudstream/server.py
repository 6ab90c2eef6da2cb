"""Running the API server (uvicorn) next to the stream workers, until told to stop."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable

import uvicorn

from fraudstream.api import create_app
from fraudstream.runtime import Runtime

__all__ = ["Server"]

log = logging.getLogger(__name__)


class Server:
    """uvicorn in a thread, so the caller's thread stays free (live summary, Ctrl-C)."""

    def __init__(self, runtime: Runtime, host: str, port: int) -> None:
        self.runtime = runtime
        if port == 0:  # pick a free port, for tests and benchmarks
            with socket.socket() as probe:
                probe.bind((host, 0))
                port = probe.getsockname()[1]
        self.host, self.port = host, port
        config = uvicorn.Config(
            create_app(runtime=runtime),
            host=host,
            port=port,
            log_level="warning",
            timeout_graceful_shutdown=2,
            lifespan="on",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="fraudstream-http", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> None:
        self.runtime.start()
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the HTTP server did not start on {self.url}")
            time.sleep(0.02)

    def stop(self) -> None:
        self.runtime.service.feed.close()  # let open event streams end, so shutdown is quick
        self._server.should_exit = True
        self._thread.join(10)
        self.runtime.stop()

    def serve_until_interrupted(
        self, tick: Callable[[], None] | None = None, every: float = 1.0, duration: float | None = None
    ) -> None:
        """Block until Ctrl-C (or `duration` seconds), calling `tick` every `every` seconds."""
        started = time.monotonic()
        try:
            while duration is None or time.monotonic() - started < duration:
                if tick:
                    tick()
                time.sleep(every)
        except KeyboardInterrupt:
            log.info("interrupted: shutting down")
        finally:
            self.stop()
