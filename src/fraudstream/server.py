"""Running the stream workers, and the API server (uvicorn) beside them, until told to stop."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import uvicorn

from fraudstream.api import create_app
from fraudstream.ports import check_port
from fraudstream.runtime import Runtime

__all__ = ["Server"]

log = logging.getLogger(__name__)


class Server:
    """The runtime's workers, and uvicorn in a thread unless `http` is off, so the caller's
    thread stays free (live summary, Ctrl-C)."""

    def __init__(self, runtime: Runtime, host: str, port: int, http: bool = True) -> None:
        self.runtime = runtime
        self.host, self.port = host, check_port(host, port) if http else port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        if http:
            proxies = runtime.settings.trusted_proxies
            config = uvicorn.Config(
                create_app(runtime=runtime),
                host=host,
                port=self.port,
                log_level="warning",
                timeout_graceful_shutdown=2,
                lifespan="on",
                # A client's address is its own unless a proxy we trust says otherwise:
                # the limit on wrong keys counts per address.
                proxy_headers=bool(proxies),
                forwarded_allow_ips=proxies or None,
            )
            self._server = uvicorn.Server(config)
            self._thread = threading.Thread(target=self._server.run, name="fraudstream-http", daemon=True)

    @property
    def http(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 15.0) -> None:
        self.runtime.start()
        if self._server is None or self._thread is None:
            return
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the HTTP server did not start on {self.url}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self.runtime.service.feed.close()  # let open event streams end, so shutdown is quick
            self._server.should_exit = True
            self._thread.join(10)
        self.runtime.stop()

    def serve_until_interrupted(
        self, tick: Callable[[], None] | None = None, every: float = 1.0, duration: float | None = None
    ) -> bool:
        """Block until Ctrl-C (or `duration` seconds), calling `tick` every `every` seconds.

        Without HTTP, the process is its workers: it also ends when they stopped (returns
        False then, so the caller can exit with an error and be restarted).
        """
        started = time.monotonic()
        try:
            while duration is None or time.monotonic() - started < duration:
                if tick:
                    tick()
                if not self.http and self.runtime.workers and not self.runtime.workers_alive:
                    log.error("the stream workers stopped: shutting down")
                    return False
                time.sleep(every)
        except KeyboardInterrupt:
            log.info("interrupted: shutting down")
        finally:
            self.stop()
        return True
