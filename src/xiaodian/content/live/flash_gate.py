"""The Redis gate of the flash sales: remaining units and units per buyer, admitted by one
atomic Lua call before the database (``flash`` keeps the database's own conditions, so the
gate never decides alone). Also the processes' shared progress-update slot
(``claim_progress``). Used only when ``XIAODIAN_REDIS_URL`` is set.

Keys of a sale, each starting with ``settings.redis_prefix`` (``xd:``):

- ``flash:<id>:remaining``: the units the gate may still admit;
- ``flash:<id>:buyers``: a hash, buyer -> units admitted;
- ``flash:<id>:pending``: the admissions not settled yet, a sorted set of
  ``<ticket>|<buyer>|<quantity>`` scored by the end of their lease (ms, ``xiaodian.clock``);
- ``flash:<id>:progress``: the progress-update slot.

Every admission is pending until its writer settles it after the commit (``settle``:
written, or given back). One that is never settled (its process died) is given back by the
next admission once its lease has passed (``LEASE``): seconds, not until a job runs. A
process that starts rebuilds the gates of running sales from the database before it admits
anyone (``rebuild``: also drops every pending admission, whose units the database still
has unless they were written); a gate that answers "sold out" while the database has the
units is rebuilt when nothing is in flight (``heal``). Each of these errs, if at all, on
the side of admitting too many, which the database refuses: the gate never keeps units
unsold. docs/architecture.md ("Live rooms and flash sales") explains why.
"""

from __future__ import annotations

import itertools
import logging
import os
import secrets
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian import settings as settings_module
from xiaodian.content.live.models import FlashSale, FlashSaleBuyer, SaleStatus

if TYPE_CHECKING:
    from xiaodian.content.live.flash import SaleInfo

log = logging.getLogger(__name__)

# Verdicts below zero; zero or more is the units left after an admission.
SOLD_OUT = -1
LIMIT_REACHED = -2
NOT_OPEN = -3  # the gate does not know the sale: use the database (and ``heal``)
UNAVAILABLE = -4  # Redis did not answer: use the database

LEASE = 5.0  # seconds an admission may stay unsettled before the gate takes it back
KEEP = 7 * 86400  # seconds a running sale's keys live (refreshed by every rebuild)
KEEP_CLOSED = 86400
REAP = 512  # expired admissions given back per call at most

# Give back the expired admissions (KEYS: remaining, buyers, pending). Only called when the
# remaining key exists (INCRBY would otherwise create it with a count that means nothing).
_REAP_LUA = f"""
local function reap(now)
  local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, {REAP})
  for _, member in ipairs(expired) do
    local buyer, q = string.match(member, '|(%d+)|(%d+)$')
    redis.call('INCRBY', KEYS[1], q)
    redis.call('HINCRBY', KEYS[2], buyer, -tonumber(q))
  end
  if #expired > 0 then redis.call('ZREM', KEYS[3], unpack(expired)) end
end
"""

# A batch of one sale in one call: ARGV = limit, now, lease end, then (buyer, quantity,
# pending member) triples, answered in order (a buyer twice in a batch is counted in order).
_TAKE_LUA = (
    _REAP_LUA
    + """
local out = {}
if redis.call('EXISTS', KEYS[1]) == 0 then
  for i = 4, #ARGV, 3 do out[#out + 1] = -3 end
  return out
end
reap(ARGV[2])
local remaining = tonumber(redis.call('GET', KEYS[1]))
local limit = tonumber(ARGV[1])
local taken = 0
for i = 4, #ARGV, 3 do
  local buyer, q = ARGV[i], tonumber(ARGV[i + 1])
  local held = tonumber(redis.call('HGET', KEYS[2], buyer) or '0')
  if held + q > limit then
    out[#out + 1] = -2
  elseif remaining < q then
    out[#out + 1] = -1
  else
    remaining = remaining - q
    taken = taken + q
    redis.call('HINCRBY', KEYS[2], buyer, q)
    redis.call('ZADD', KEYS[3], ARGV[3], ARGV[i + 2])
    out[#out + 1] = remaining
  end
end
if taken > 0 then
  redis.call('DECRBY', KEYS[1], taken)
  local ttl = redis.call('TTL', KEYS[1])
  if ttl > 0 then
    redis.call('EXPIRE', KEYS[2], ttl)
    redis.call('EXPIRE', KEYS[3], ttl)
  end
end
return out
"""
)

# Settle admissions: ARGV = (member, "1" written | "0" not) pairs. An admission still
# pending leaves the set; one not written gives its units back. One no longer pending
# (its lease ran out, or a rebuild dropped it) was given back or recounted already.
_SETTLE_LUA = """
local exists = redis.call('EXISTS', KEYS[1]) == 1
local back = 0
for i = 1, #ARGV, 2 do
  local member = ARGV[i]
  if redis.call('ZREM', KEYS[3], member) == 1 and ARGV[i + 1] == '0' and exists then
    local buyer, q = string.match(member, '|(%d+)|(%d+)$')
    redis.call('INCRBY', KEYS[1], q)
    redis.call('HINCRBY', KEYS[2], buyer, -tonumber(q))
    back = back + tonumber(q)
  end
end
return back
"""

# Rebuild from the database's numbers: ARGV = now, remaining, seconds to keep, "1" only
# when nothing is pending (after the expired ones are given back), then (buyer, bought)
# pairs. 1 when rebuilt.
_REBUILD_LUA = (
    _REAP_LUA
    + """
if ARGV[4] == '1' and redis.call('EXISTS', KEYS[1]) == 1 then
  reap(ARGV[1])
  if redis.call('ZCARD', KEYS[3]) > 0 then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
redis.call('DEL', KEYS[2], KEYS[3])
for i = 5, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
if #ARGV > 4 then redis.call('EXPIRE', KEYS[2], ARGV[3]) end
return 1
"""
)

# Units of a cancelled order back to a gate that knows the sale: ARGV = buyer, quantity.
_RETURN_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('INCRBY', KEYS[1], ARGV[2])
redis.call('HINCRBY', KEYS[2], ARGV[1], -tonumber(ARGV[2]))
return 1
"""


class Taken(NamedTuple):
    """The gate's answer to one ask: ``left`` (a verdict below zero, else the units left
    after this admission) and the admission's ``ticket`` to settle (empty if refused)."""

    left: int
    ticket: str = ""


def _ms(seconds: float = 0.0) -> int:
    return int((clock.now().timestamp() + seconds) * 1000)


class RedisGate:
    """Atomic admission in Redis: remaining units and units per buyer, one Lua call.

    ``SOLD_OUT``, ``LIMIT_REACHED``, ``NOT_OPEN`` / ``UNAVAILABLE`` (use the database), else
    the remaining units after the purchase. The database keeps its own conditions, so a
    gate that admits too many costs a refused UPDATE, never an oversell.
    """

    def __init__(self, url: str, prefix: str = "xd:") -> None:
        import redis

        self.url = url
        self.prefix = prefix
        # Bounded waits: the gate is asked on the writers' path, some of it under their
        # lock; a stalled Redis must fall back to the database, not hang the buyers.
        self.client = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._take = self.client.register_script(_TAKE_LUA)
        self._settle = self.client.register_script(_SETTLE_LUA)
        self._rebuild = self.client.register_script(_REBUILD_LUA)
        self._return = self.client.register_script(_RETURN_LUA)
        self._origin = f"{os.getpid():x}.{secrets.token_hex(3)}"
        self._serial = itertools.count(1)

    def keys(self, sale_id: int) -> list[str]:
        """remaining, buyers, pending."""
        base = f"{self.prefix}flash:{sale_id}:"
        return [base + "remaining", base + "buyers", base + "pending"]

    # ---------------------------------------------------------------- opening, closing

    def open(self, sale_id: int, remaining: int) -> None:
        self._rebuild(keys=self.keys(sale_id), args=[_ms(), remaining, KEEP, "0"])

    def close(self, sale_id: int) -> None:
        remaining_key, _buyers, pending_key = self.keys(sale_id)
        pipe = self.client.pipeline()
        pipe.set(remaining_key, 0, ex=KEEP_CLOSED)
        pipe.delete(pending_key)
        pipe.execute()

    # ---------------------------------------------------------------- admitting

    def take(self, info: SaleInfo, buyer_id: int, quantity: int) -> Taken:
        return self.take_many([(info, buyer_id, quantity)])[0]

    def take_many(self, asks: list[tuple[SaleInfo, int, int]]) -> list[Taken]:
        """``take`` for many (sale, buyer, quantity) in one round trip, in order: one Lua
        call per sale (a writer's batch is usually one sale), not one per buyer. Each
        admission is pending for ``LEASE`` seconds unless ``settle`` comes first."""
        if not asks:
            return []
        by_sale: dict[int, list[int]] = {}
        for index, (info, _buyer, _quantity) in enumerate(asks):
            by_sale.setdefault(info.id, []).append(index)
        tickets = [
            f"{self._origin}.{next(self._serial)}|{buyer}|{quantity}"
            for _info, buyer, quantity in asks
        ]
        now, lease_end = _ms(), _ms(LEASE)
        try:
            pipe = self.client.pipeline(transaction=False)
            for sale_id, indexes in by_sale.items():
                args: list[Any] = [asks[indexes[0]][0].per_buyer_limit, now, lease_end]
                for index in indexes:
                    args += [asks[index][1], asks[index][2], tickets[index]]
                self._take(keys=self.keys(sale_id), args=args, client=pipe)
            out = [Taken(UNAVAILABLE)] * len(asks)
            for indexes, values in zip(by_sale.values(), pipe.execute(), strict=True):
                for index, value in zip(indexes, values, strict=True):
                    left = int(value)
                    out[index] = Taken(left, tickets[index] if left >= 0 else "")
            return out
        except Exception:
            log.exception("flash: redis gate unavailable; using the database")
            return [Taken(UNAVAILABLE)] * len(asks)

    def settle(self, outcomes: Iterable[tuple[int, str, bool]]) -> None:
        """(sale id, ticket, written) of admissions whose purchase committed (written) or
        did not happen (their units and the buyer's count go back), one round trip."""
        by_sale: dict[int, list[str]] = {}
        for sale_id, ticket, written in outcomes:
            if ticket:
                by_sale.setdefault(sale_id, []).extend((ticket, "1" if written else "0"))
        if not by_sale:
            return
        try:
            pipe = self.client.pipeline(transaction=False)
            for sale_id, args in by_sale.items():
                self._settle(keys=self.keys(sale_id), args=args, client=pipe)
            pipe.execute()
        except Exception:  # the leases give them back
            log.exception("flash: could not settle redis admissions")

    def returned(self, sale_id: int, buyer_id: int, quantity: int) -> None:
        try:
            self._return(keys=self.keys(sale_id), args=[buyer_id, quantity])
        except Exception:
            log.exception("flash: could not return units to the redis gate")

    def claim_progress(self, sale_id: int, seconds: float) -> bool:
        """The right to publish a sale's progress for the next ``seconds``, shared by the
        processes (``SET NX PX``): N server processes then send viewers one update per
        interval between them, not N (each update is a write to every viewer's socket).
        True when Redis cannot be asked: each process publishes for itself."""
        try:
            key = f"{self.prefix}flash:{sale_id}:progress"
            return bool(self.client.set(key, 1, nx=True, px=max(1, int(seconds * 1000))))
        except Exception:
            log.exception("flash: could not claim a progress update")
            return True

    # ---------------------------------------------------------------- the record

    def _from_db(self, db: Session, sale_id: int, *, quiet: bool) -> bool:
        """Set the gate of one sale from the database (the record): units left if it
        runs, else none, and what each buyer bought. ``quiet``: only when no admission
        is in flight (after giving back the expired ones). True when set."""
        row = db.execute(
            select(FlashSale.status, FlashSale.remaining).where(FlashSale.id == sale_id)
        ).first()
        if row is None:
            return False
        remaining = int(row[1]) if row[0] == SaleStatus.RUNNING else 0
        args: list[Any] = [_ms(), remaining, KEEP, "1" if quiet else "0"]
        for buyer, bought in db.execute(
            select(FlashSaleBuyer.buyer_id, FlashSaleBuyer.bought).where(
                FlashSaleBuyer.sale_id == sale_id, FlashSaleBuyer.bought > 0
            )
        ):
            args += [buyer, bought]
        return bool(self._rebuild(keys=self.keys(sale_id), args=args))

    def heal(self, db: Session, sale_id: int) -> bool:
        """Rebuild a sale's gate from the database when no admission is in flight: for a
        gate that says "sold out" (or does not know the sale) while the database has the
        units. The database is read first: a purchase that commits before the gate is
        set can only leave it too generous, never short. True when rebuilt."""
        try:
            return self._from_db(db, sale_id, quiet=True)
        except Exception:
            log.exception("flash: could not heal the redis gate")
            return False

    def rebuild(self, db: Session) -> int:
        """Set the gates of every running sale from the database and drop their pending
        admissions (a process starting: those of a process that died were never
        written). An admission of a live process that commits after the read leaves its
        gate too generous by its units, which the database refuses."""
        ids = db.scalars(select(FlashSale.id).where(FlashSale.status == SaleStatus.RUNNING))
        return sum(1 for sale_id in list(ids) if self._from_db(db, sale_id, quiet=False))

    def reconcile(self, db: Session) -> int:
        """``heal`` every running sale (the periodic job): rebuilt where nothing is in
        flight, which also corrects a gate left too generous. The number rebuilt."""
        ids = db.scalars(select(FlashSale.id).where(FlashSale.status == SaleStatus.RUNNING))
        return sum(1 for sale_id in list(ids) if self.heal(db, sale_id))


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


def reconcile_gates(db: Session) -> int:
    gate = redis_gate()
    return gate.reconcile(db) if gate is not None else 0


def rebuild_gates(db: Session) -> int:
    gate = redis_gate()
    return gate.rebuild(db) if gate is not None else 0
