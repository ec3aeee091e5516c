"""The Redis gate of the flash sales: remaining units and units per buyer, admitted by one
atomic Lua call before the database (``flash`` keeps the database's own conditions, so the
gate never decides alone). Also the processes' shared progress-update slot
(``claim_progress``). Used only when ``XIAODIAN_REDIS_URL`` is set."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from xiaodian import settings as settings_module
from xiaodian.content.live.models import FlashSale, FlashSaleBuyer, SaleStatus

if TYPE_CHECKING:
    from xiaodian.content.live.flash import SaleInfo

log = logging.getLogger(__name__)


_GATE_LUA = """
local remaining = redis.call('GET', KEYS[1])
if not remaining then return -3 end
remaining = tonumber(remaining)
local q = tonumber(ARGV[2])
local held = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if held + q > tonumber(ARGV[3]) then return -2 end
if remaining < q then return -1 end
redis.call('DECRBY', KEYS[1], q)
redis.call('HINCRBY', KEYS[2], ARGV[1], q)
return remaining - q
"""

# ``_GATE_LUA`` for a whole batch of one sale, in one call: ARGV = limit, then (buyer,
# quantity) pairs, answered in order (a buyer twice in a batch is counted in order).
_GATE_MANY_LUA = """
local out = {}
local remaining = redis.call('GET', KEYS[1])
if not remaining then
  for i = 2, #ARGV, 2 do out[#out + 1] = -3 end
  return out
end
remaining = tonumber(remaining)
local limit = tonumber(ARGV[1])
local taken = 0
for i = 2, #ARGV, 2 do
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
    out[#out + 1] = remaining
  end
end
if taken > 0 then redis.call('DECRBY', KEYS[1], taken) end
return out
"""


class RedisGate:
    """Atomic admission in Redis: remaining units and units per buyer, one Lua call.

    -1 sold out, -2 limit reached, -3 not initialised (fall back to the database), else
    the remaining units after this purchase. The database keeps its own conditions, so a
    gate that admits too many costs a refused UPDATE, never an oversell.
    """

    def __init__(self, url: str) -> None:
        import redis

        self.url = url
        # Bounded waits: the gate is asked on the writers' path, some of it under their
        # lock; a stalled Redis must fall back to the database, not hang the buyers.
        self.client = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._script = self.client.register_script(_GATE_LUA)
        self._many_script = self.client.register_script(_GATE_MANY_LUA)

    @staticmethod
    def keys(sale_id: int) -> list[str]:
        return [f"xd:flash:{sale_id}:remaining", f"xd:flash:{sale_id}:buyers"]

    def open(self, sale_id: int, remaining: int) -> None:
        remaining_key, buyers_key = self.keys(sale_id)
        pipe = self.client.pipeline()
        pipe.set(remaining_key, remaining, ex=7 * 86400)
        pipe.delete(buyers_key)
        pipe.execute()

    def close(self, sale_id: int) -> None:
        self.client.set(self.keys(sale_id)[0], 0, ex=86400)

    def take(self, info: SaleInfo, buyer_id: int, quantity: int) -> int:
        try:
            return int(
                self._script(
                    keys=self.keys(info.id), args=[buyer_id, quantity, info.per_buyer_limit]
                )
            )
        except Exception:
            log.exception("flash: redis gate unavailable; using the database")
            return -3

    def take_many(self, asks: list[tuple[SaleInfo, int, int]]) -> list[int]:
        """``take`` for many (sale, buyer, quantity) in one round trip, in order: one Lua
        call per sale (a writer's batch is usually one sale), not one per buyer."""
        if not asks:
            return []
        by_sale: dict[int, list[int]] = {}
        for index, (info, _buyer, _quantity) in enumerate(asks):
            by_sale.setdefault(info.id, []).append(index)
        try:
            pipe = self.client.pipeline(transaction=False)
            for sale_id, indexes in by_sale.items():
                args: list[int] = [asks[indexes[0]][0].per_buyer_limit]
                for index in indexes:
                    args += [asks[index][1], asks[index][2]]
                self._many_script(keys=self.keys(sale_id), args=args, client=pipe)
            out = [-3] * len(asks)
            for indexes, values in zip(by_sale.values(), pipe.execute(), strict=True):
                for index, value in zip(indexes, values, strict=True):
                    out[index] = int(value)
            return out
        except Exception:
            log.exception("flash: redis gate unavailable; using the database")
            return [-3] * len(asks)

    def give_back(self, info: SaleInfo, buyer_id: int, quantity: int, exc: BaseException) -> None:
        """Undo an admission whose purchase did not happen."""
        remaining_key, buyers_key = self.keys(info.id)
        try:
            pipe = self.client.pipeline()
            pipe.hincrby(buyers_key, str(buyer_id), -quantity)
            code = getattr(exc, "code", "")
            if code in ("sold_out", "sale_not_running"):
                pipe.set(remaining_key, 0, keepttl=True)
            else:
                pipe.incrby(remaining_key, quantity)
            pipe.execute()
        except Exception:
            log.exception("flash: could not give back a redis admission")

    def returned(self, sale_id: int, buyer_id: int, quantity: int) -> None:
        remaining_key, buyers_key = self.keys(sale_id)
        try:
            pipe = self.client.pipeline()
            pipe.incrby(remaining_key, quantity)
            pipe.hincrby(buyers_key, str(buyer_id), -quantity)
            pipe.execute()
        except Exception:
            log.exception("flash: could not return units to the redis gate")

    def claim_progress(self, sale_id: int, seconds: float) -> bool:
        """The right to publish a sale's progress for the next ``seconds``, shared by the
        processes (``SET NX PX``): N server processes then send viewers one update per
        interval between them, not N (each update is a write to every viewer's socket).
        True when Redis cannot be asked: each process publishes for itself."""
        try:
            key = f"xd:flash:{sale_id}:progress"
            return bool(self.client.set(key, 1, nx=True, px=max(1, int(seconds * 1000))))
        except Exception:
            log.exception("flash: could not claim a progress update")
            return True

    def reconcile(self, db: Session) -> int:
        """Rebuild the gates of running sales from the database, the record."""
        count = 0
        for sale in db.scalars(select(FlashSale).where(FlashSale.status == SaleStatus.RUNNING)):
            remaining_key, buyers_key = self.keys(sale.id)
            buyers: dict[Any, Any] = {
                str(b): n
                for b, n in db.execute(
                    select(FlashSaleBuyer.buyer_id, FlashSaleBuyer.bought).where(
                        FlashSaleBuyer.sale_id == sale.id, FlashSaleBuyer.bought > 0
                    )
                )
            }
            pipe = self.client.pipeline()
            pipe.set(remaining_key, sale.remaining, ex=7 * 86400)
            pipe.delete(buyers_key)
            if buyers:
                pipe.hset(buyers_key, mapping=buyers)
            pipe.execute()
            count += 1
        return count


_gate: RedisGate | None = None
_gate_url: str | None = None
_gate_lock = threading.Lock()


def redis_gate() -> RedisGate | None:
    """The gate when ``XIAODIAN_REDIS_URL`` is set, else None (the database gates)."""
    global _gate, _gate_url
    url = settings_module.current().redis_url
    if not url:
        return None
    with _gate_lock:
        if _gate is None or _gate_url != url:
            _gate, _gate_url = RedisGate(url), url
        return _gate


def reconcile_gates(db: Session) -> int:
    gate = redis_gate()
    return gate.reconcile(db) if gate is not None else 0
