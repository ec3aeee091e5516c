"""The background queue on Redis lives under the deployment's key prefix: two shops (or two
test runs) sharing one Redis server never take each other's jobs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xiaodian import tasks
from xiaodian.settings import Settings


def test_queue_keys_carry_the_redis_prefix(
    tmp_path: Path, database: Any, redis_target: Any
) -> None:
    settings = Settings(
        data_dir=tmp_path,
        database_url=database.url,
        secret_key="k" * 40,
        redis_url=redis_target.url,
        redis_prefix=redis_target.prefix,
    )
    other = Settings(
        data_dir=tmp_path,
        database_url=database.url,
        secret_key="k" * 40,
        redis_url=redis_target.url,
        redis_prefix=redis_target.prefix + "other:",
    )
    try:
        huey = tasks.configure(settings, database=database)
        huey.storage.enqueue(b"job-of-this-shop")
        keys = [k.decode() for k in redis_target.client.scan_iter(count=10000)]
        assert f"huey.redis.{redis_target.prefix}tasks" in keys
        assert huey.storage.queue_size() == 1
        # Another deployment on the same server sees an empty queue.
        assert tasks.configure(other, database=database).storage.queue_size() == 0
        assert tasks.configure(settings, database=database).storage.dequeue() == b"job-of-this-shop"
    finally:
        tasks.configure(other, database=database).storage.flush_all()
        tasks.configure(settings, database=database).storage.flush_all()
        tasks.reset()
