"""A real xiaodian server in a child process (uvicorn running ``xiaodian.asgi:app`` on a
free port, the real clock), for the tests that need what only a real server shows: a crowd
of concurrent connections, two processes, a process killed in the middle of its work."""

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
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """The app on ``database_url``; ``redis``: the test's ``RedisTarget`` (its URL and key
    prefix), or None; ``env``: more settings."""

    def __init__(
        self,
        tmp: Path,
        database_url: str,
        name: str,
        redis: Any = None,
        *,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / f"{name}.log"
        self.env = {
            **os.environ,
            "XIAODIAN_DATABASE_URL": database_url,
            "XIAODIAN_DATA_DIR": str(tmp / name),
            "XIAODIAN_SECRET_KEY": "test-secret-key-" + "x" * 32,
            "XIAODIAN_REDIS_URL": redis.url if redis is not None else "",
            "XIAODIAN_PUBLIC_BASE_URL": self.url,
            # SIGABRT prints every thread's stack: what a server that never answered was doing.
            "PYTHONFAULTHANDLER": "1",
            **({"XIAODIAN_REDIS_PREFIX": redis.prefix} if redis is not None else {}),
            **(env or {}),
        }
        self.log = open(self.log_path, "a")  # noqa: SIM115 (closed with the process)
        command = [sys.executable, "-m", "uvicorn", "xiaodian.asgi:app"]
        command += ["--port", str(self.port), "--log-level", "warning"]
        self.proc = subprocess.Popen(
            command, env=self.env, stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 180  # imports alone take seconds on a busy machine
        last = "no answer"
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                # A generous wait per try: a first answer slower than the timeout would
                # otherwise be abandoned again and again while the queue behind it grows.
                answer = httpx.get(self.url + "/healthz", timeout=10)
                if answer.status_code == 200:
                    return
                last = f"{answer.status_code} {answer.text[:200]}"
            except httpx.HTTPError as error:
                last = repr(error)
            time.sleep(0.2)
        code = self.proc.poll()
        if code is None:
            self.proc.send_signal(signal.SIGABRT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.stop()
        raise RuntimeError(
            f"server {name} did not start (exit code {code}, last answer: {last}): {self.text()}"
        )

    def text(self) -> str:
        """What the server printed so far."""
        return self.log_path.read_text(errors="replace")

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
        """SIGKILL: no lifespan shutdown, no writer finishing its batch, as a crash."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.log.close()
