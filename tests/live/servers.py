"""Real server processes for the live tests: uvicorn running ``xiaodian.asgi:app`` on a
free port, on the test's database (and Redis, with the test's key prefix)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from xiaodian.accounts import service as accounts_service


def bearer_token(database: Any, user: Any) -> str:
    with database.session() as session:
        return accounts_service.issue_token(session, user_id=user.id)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``redis``: the test's ``RedisTarget`` (its URL and key prefix), or None."""

    def __init__(self, tmp: Path, database_url: str, name: str, redis: Any = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "XIAODIAN_DATABASE_URL": database_url,
            "XIAODIAN_DATA_DIR": str(tmp / name),
            "XIAODIAN_SECRET_KEY": "test-secret-key-" + "x" * 32,
            "XIAODIAN_REDIS_URL": redis.url if redis is not None else "",
        }
        if redis is not None:
            env["XIAODIAN_REDIS_PREFIX"] = redis.prefix
        self.log_path = tmp / f"{name}.log"
        self.log = open(self.log_path, "a")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "xiaodian.asgi:app",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60  # imports alone take seconds on a busy machine
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        code = self.proc.poll()
        self.stop()
        raise RuntimeError(
            f"server {name} did not start (exit code {code}): {self.log_path.read_text()}"
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()

    def kill(self) -> None:
        """SIGKILL: no lifespan shutdown, no writer finishing its batch."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.log.close()
