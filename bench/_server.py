"""Starting `fraudstream serve` in its own process for HTTP benchmarks."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _world import CACHE, history
from fraudstream.io import write_frame


def warm_files() -> tuple[Path, Path]:
    tx_path, label_path = CACHE / "history.parquet", CACHE / "history.labels.parquet"
    if not tx_path.exists():
        transactions, labels = history()
        write_frame(transactions, tx_path)
        write_frame(labels, label_path)
    return tx_path, label_path


class ServeProcess:
    def __init__(self, model_dir: Path, warm: bool = True) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.home = Path(tempfile.mkdtemp(prefix="fraudstream-bench-"))
        args = [sys.executable, "-m", "fraudstream.cli", "serve", "--model", str(model_dir), "--port", str(self.port)]
        if warm:
            tx_path, label_path = warm_files()
            args += ["--warm", str(tx_path), "--warm-labels", str(label_path)]
        env = {**os.environ, "FRAUDSTREAM_HOME": str(self.home), "FRAUDSTREAM_LOG_LEVEL": "WARNING"}
        self.process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while True:
            try:
                if self.request("GET", "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("fraudstream serve did not start")
            time.sleep(0.2)

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port)

    def request(
        self, method: str, path: str, body: Any = None, conn: http.client.HTTPConnection | None = None
    ) -> tuple[int, bytes]:
        own = conn is None
        conn = conn or self.connection()
        payload = body if isinstance(body, bytes | None) else json.dumps(body).encode()
        conn.request(method, path, body=payload, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        data = response.read()
        if own:
            conn.close()
        return response.status, data

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)
