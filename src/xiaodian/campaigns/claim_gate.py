"""The Redis gate of coupon claims: coupons left and claims per buyer, admitted by one
atomic Lua call before the database. Used only when ``XIAODIAN_REDIS_URL`` is set.

The database keeps its own conditions (``claims.claim``), so the gate never decides alone:
it turns the crowd away once a template is all issued (or a buyer is at the limit) without
a write transaction each. Keys, each starting with ``settings.redis_prefix``:

- ``coupon:<id>:left``: the coupons the gate may still admit;
- ``coupon:<id>:buyers``: a hash, buyer -> claims admitted, and ``_limit``: the template's
  limit per buyer.

Both live ``FORGET`` seconds from when the gate learnt them, then the next claim goes to
the database and teaches the gate again (``learn``: what the database says is left). So an
admission lost with its process (admitted, never written, never given back) keeps at most
``FORGET`` seconds a coupon from the crowd; learning while claims are in flight errs on the
side of admitting too many, which the database refuses. A claim the database refuses after
the gate admitted it is given back at once (``give_back``).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from xiaodian import settings as settings_module

log = logging.getLogger(__name__)

SOLD_OUT = -1
LIMIT_REACHED = -2
NOT_OPEN = -3  # the gate does not know the template: use the database (and learn)
UNAVAILABLE = -4  # Redis did not answer: use the database

FORGET = 60  # seconds the gate trusts what it learnt

# KEYS: left, buyers. ARGV: buyer.
_TAKE_LUA = """
local left = redis.call('GET', KEYS[1])
local limit = redis.call('HGET', KEYS[2], '_limit')
if not left or not limit then return -3 end
if tonumber(left) <= 0 then return -1 end
local had = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if had >= tonumber(limit) then return -2 end
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
return redis.call('DECR', KEYS[1])
"""

# KEYS: left, buyers. ARGV: buyer.
_GIVE_BACK_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('INCR', KEYS[1]) end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[2], ARGV[1], -1)
end
return 1
"""

# KEYS: left, buyers. ARGV: left, ttl, buyer, claimed, limit (buyer "" when none).
_LEARN_LUA = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[2], '_limit', ARGV[5])
  redis.call('EXPIRE', KEYS[2], ARGV[2])
end
if ARGV[3] ~= '' then
  local had = tonumber(redis.call('HGET', KEYS[2], ARGV[3]) or '0')
  if tonumber(ARGV[4]) > had then redis.call('HSET', KEYS[2], ARGV[3], ARGV[4]) end
  if redis.call('TTL', KEYS[2]) < 0 then redis.call('EXPIRE', KEYS[2], ARGV[2]) end
end
return 1
"""


class RedisGate:
    def __init__(self, url: str, prefix: str = "xd:") -> None:
        import redis

        self.url = url
        self.prefix = prefix
        self.client = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._take = self.client.register_script(_TAKE_LUA)
        self._give_back = self.client.register_script(_GIVE_BACK_LUA)
        self._learn = self.client.register_script(_LEARN_LUA)

    def keys(self, template_id: int) -> list[str]:
        base = f"{self.prefix}coupon:{template_id}:"
        return [base + "left", base + "buyers"]

    def take(self, template_id: int, buyer_id: int) -> int:
        """The coupons left after this admission, or a verdict below zero."""
        try:
            return int(self._take(keys=self.keys(template_id), args=[buyer_id]))
        except Exception:  # a gate that does not answer falls back to the database
            log.warning("coupon gate unavailable", exc_info=True)
            return UNAVAILABLE

    def give_back(self, template_id: int, buyer_id: int) -> None:
        try:
            self._give_back(keys=self.keys(template_id), args=[buyer_id])
        except Exception:
            log.warning("coupon gate: could not give back a claim", exc_info=True)

    def learn(
        self, template_id: int, *, left: int, limit: int, buyer_id: int | None, claimed: int
    ) -> None:
        """What the database says, unless the gate knows the template already."""
        try:
            self._learn(
                keys=self.keys(template_id),
                args=[left, FORGET, "" if buyer_id is None else buyer_id, claimed, limit],
            )
        except Exception:
            log.warning("coupon gate: could not learn", exc_info=True)

    def open(self, template_id: int, *, left: int, limit: int) -> None:
        try:
            pipe = self.client.pipeline()
            left_key, buyers_key = self.keys(template_id)
            pipe.set(left_key, left, ex=FORGET)
            pipe.delete(buyers_key)
            pipe.hset(buyers_key, "_limit", limit)
            pipe.expire(buyers_key, FORGET)
            pipe.execute()
        except Exception:
            log.warning("coupon gate: could not open", exc_info=True)


_gate: RedisGate | None = None
_gate_lock = threading.Lock()


def redis_gate() -> RedisGate | None:
    """The gate when ``XIAODIAN_REDIS_URL`` is set, else None (the database gates)."""
    global _gate
    current = settings_module.current()
    if not current.redis_url:
        return None
    with _gate_lock:
        if _gate is None or (_gate.url, _gate.prefix) != (current.redis_url, current.redis_prefix):
            _gate = RedisGate(current.redis_url, current.redis_prefix)
        return _gate


def _after_commit(db: Session, action: Any) -> None:
    def run(_session: Session) -> None:
        action()

    event.listen(db, "after_commit", run, once=True)


def open_after_commit(db: Session, template_id: int, *, left: int, limit: int) -> None:
    """Once the transaction commits, the gate knows the template (a new one: all left)."""
    gate = redis_gate()
    if gate is not None:
        _after_commit(db, lambda: gate.open(template_id, left=left, limit=limit))


def close_after_commit(db: Session, template_id: int) -> None:
    """Once the transaction commits, the gate turns everyone away (a stopped template)."""
    gate = redis_gate()
    if gate is not None:
        _after_commit(db, lambda: gate.open(template_id, left=0, limit=1))
