"""Shared pieces of the benchmarks: a server of our own on a fresh database, buyers with
tokens, percentiles, CPU accounting and the JSON summary line.

Benchmarks are programs, not tests: they print what they measured and assert nothing.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class SeededBuyer:
    user_id: int
    token: str  # a bearer token, stored hashed as ``accounts.service.issue_token`` does
    address_id: int  # the default address


def seed_buyers(
    db: Any, *, count: int, tag: str, now: Any, password_hash: str
) -> list[SeededBuyer]:
    """``count`` buyer accounts, each with a default address and a bearer token, in three
    bulk inserts (thousands in seconds); commits. ``tag`` keeps their emails unique."""
    from datetime import timedelta

    from xiaodian.accounts import security
    from xiaodian.accounts.models import AuthSession, User
    from xiaodian.orders.models import Address

    db.execute(
        sa.insert(User),
        [
            {
                "email": f"buyer{i}-{tag}@bench.example",
                "password_hash": password_hash,
                "display_name": f"买家{i}",
                "created_at": now,
            }
            for i in range(count)
        ],
    )
    ids = list(
        db.scalars(
            sa.select(User.id)
            .where(User.email.like(f"buyer%-{tag}@bench.example"))
            .order_by(User.id)
        )
    )
    assert len(ids) == count
    db.execute(
        sa.insert(Address),
        [
            {
                "user_id": uid,
                "name": "张三",
                "phone": "13800138000",
                "province": "浙江省",
                "city": "杭州市",
                "district": "西湖区",
                "detail": f"文三路 {i % 500 + 1} 号",
                "is_default": True,
                "created_at": now,
            }
            for i, uid in enumerate(ids)
        ],
    )
    tokens = [security.new_token() for _ in ids]
    db.execute(
        sa.insert(AuthSession),
        [
            {
                "token_hash": security.token_hash(token),
                "user_id": uid,
                "kind": "bearer",
                "created_at": now,
                "expires_at": now + timedelta(days=30),
            }
            for uid, token in zip(ids, tokens, strict=True)
        ],
    )
    addresses = dict(
        db.execute(sa.select(Address.user_id, Address.id).where(Address.user_id.in_(ids))).all()
    )
    db.commit()
    return [
        SeededBuyer(user_id=uid, token=token, address_id=addresses[uid])
        for uid, token in zip(ids, tokens, strict=True)
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu": cpu, "python": platform.python_version()}


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc), for "who was the bottleneck"."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks
    except (OSError, IndexError, ValueError):
        return 0.0


def process_tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and all its descendants (uvicorn ``--workers N`` forks)."""
    total = process_cpu_seconds(pid)
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return total
    for task in tasks:
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        total += sum(process_tree_cpu_seconds(int(child)) for child in children)
    return total


@dataclass
class Server:
    url: str
    database_url: str
    data_dir: Path
    process: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.process.pid if self.process else 0


@contextmanager
def fresh_database(database_url: str | None) -> Iterator[tuple[str, Path]]:
    """A new empty database: a temporary SQLite file, or a new PostgreSQL database named at
    random on the server ``database_url`` points to (dropped afterwards)."""
    data_dir = Path(tempfile.mkdtemp(prefix="xiaodian-bench-"))
    try:
        if not database_url:
            yield f"sqlite:///{data_dir / 'xiaodian.db'}", data_dir
            return
        name = f"xd_bench_{secrets.token_hex(5)}"
        admin = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
            yield url, data_dir
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def prepare(database_url: str, data_dir: Path, **extra_env: str) -> dict[str, str]:
    """Migrate the database and return the environment the server will run with."""
    env = dict(os.environ)
    env.update(
        XIAODIAN_DATA_DIR=str(data_dir),
        XIAODIAN_DATABASE_URL=database_url,
        XIAODIAN_SECRET_KEY="bench-" + "k" * 40,
        **extra_env,
    )
    for key, value in env.items():
        if key.startswith("XIAODIAN_"):
            os.environ[key] = value
    from xiaodian import migrate
    from xiaodian.db import Database

    database = Database(database_url)
    migrate.upgrade(database.engine)
    database.dispose()
    return env


@contextmanager
def run_server(
    env: dict[str, str],
    *,
    workers: int = 1,
    start_timeout: float = 30.0,
    prefix: Sequence[str] = (),
) -> Iterator[Server]:
    """One uvicorn server of the app on a free port, ``prefix`` before its command (e.g. a
    profiler that runs it), answering ``/healthz`` before it is yielded."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(env, XIAODIAN_PUBLIC_BASE_URL=url)
    cmd = [
        *prefix,
        sys.executable,
        "-m",
        "uvicorn",
        "xiaodian.asgi:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
        "--workers",
        str(workers),
    ]
    process = subprocess.Popen(cmd, env=env, cwd=ROOT)
    server = Server(
        url=url,
        database_url=env["XIAODIAN_DATABASE_URL"],
        data_dir=Path(env["XIAODIAN_DATA_DIR"]),
        process=process,
        env=env,
    )
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def report(summary: dict[str, Any]) -> None:
    """Print the summary as the last line of output (one JSON object)."""
    summary.setdefault("machine", machine())
    sys.stdout.flush()
    print(json.dumps(summary, ensure_ascii=False))


# --------------------------------------------------------------------------- wrk


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else 65536
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return int(soft)


def need_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk is missing: apt-get install -y wrk", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=False, stdout=subprocess.DEVNULL)
        found = shutil.which("wrk")
        if found:
            return found
    sys.exit("this benchmark needs wrk (Debian package `wrk`: sudo apt-get install -y wrk)")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_wrk(
    wrk: str,
    url: str,
    *,
    method: str,
    path: str,
    seconds: float,
    connections: int,
    threads: int,
    script: Path,
    tokens: Path | None = None,
    body: str | None = None,
    script_args: list[str] | None = None,
    timeout_s: float = 10.0,
) -> dict[str, Any]:
    """Run wrk; its JSON summary (the script's ``WRKJSON`` line) plus ``client_cpu_s``
    (wrk's user+system CPU). The script's arguments are ``method path tokens [body]``
    unless ``script_args`` gives them."""
    cmd = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        f"{max(1, round(timeout_s))}s",
        "-s",
        str(script),
        url + path,
        "--",
    ]
    if script_args is not None:
        cmd += script_args
    else:
        cmd += [method, path, str(tokens) if tokens else "-"]
        if body is not None:
            cmd.append(body)
    before = children_cpu()
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    cpu = children_cpu() - before
    for line in out.stdout.splitlines():
        if line.startswith("WRKJSON "):
            data: dict[str, Any] = json.loads(line[8:])
            data["client_cpu_s"] = round(cpu, 2)
            data["seconds"] = data["duration_us"] / 1e6
            return data
    raise RuntimeError(f"wrk gave no summary:\n{out.stdout}\n{out.stderr}")
