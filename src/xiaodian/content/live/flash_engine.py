"""The flash sales' per-process engine (``FlashEngine``): cached sale states kept true by
events, refusals answered from memory, and writer threads that commit purchases in batches
(``flash_purchase.purchase_batch_in_tx``; on PostgreSQL ``onestatement``), with the Redis
gate (``flash_gate``) asked once per batch. ``flash`` explains how the units move."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from xiaodian import clock, realtime
from xiaodian.actor import ANONYMOUS, Actor
from xiaodian.content.live import flash_gate
from xiaodian.content.live.flash import (
    Purchased,
    SaleInfo,
    SaleMoved,
    check_quantity,
    limit_reached,
    load_info,
    mask_name,
    precheck,
    sold_out,
    unknown_sale,
)
from xiaodian.content.live.flash_gate import RedisGate, Taken, redis_gate
from xiaodian.content.live.flash_purchase import purchase_batch_in_tx, purchase_in_tx
from xiaodian.content.live.service import channel
from xiaodian.db import Database
from xiaodian.errors import Conflict, DomainError, NotAuthenticated, _

log = logging.getLogger(__name__)

# Seconds between "remaining" updates of one sale (each goes to every viewer: 5,000
# viewers x 4/s is already 20,000 writes a second); selling out is published at once.
PUBLISH_INTERVAL = 0.25
# With this many viewers of the room connected to this process, at most every
# CROWD_PUBLISH_INTERVAL (the fan-out is then the event loop's main cost).
CROWD = 1000
CROWD_PUBLISH_INTERVAL = 0.5
VIEW_TTL = 2.0  # seconds a cached sale view is trusted without an event
BATCH = 256
SWITCH_INTERVAL = 0.001  # seconds (sys.setswitchinterval), see FlashEngine.start
# Writer threads on PostgreSQL (each batch a transaction on its own connection; optimistic
# batches lock the sale row only for their last statement, so two overlap). SQLite: one.
WRITERS = 2
STRAGGLER_WAIT = 0.002  # seconds a writer waits for more buyers of a burst


@dataclass
class SaleState:
    """A process's cached view of a sale, kept true by its own writes and by events."""

    info: SaleInfo
    status: str
    ends_at: datetime | None
    remaining: int
    room_status: str
    loaded: float = field(default_factory=time.monotonic)


@dataclass
class _Job:
    info: SaleInfo
    buyer: Actor
    quantity: int
    address_id: int | None
    future: concurrent.futures.Future[Purchased] = field(default_factory=concurrent.futures.Future)
    token: str | None = None  # the buyer is still to be found by this bearer token
    ticket: str = ""  # the Redis gate's admission, settled after the commit


class FlashEngine:
    """Per-process front of the flash sales: cached state, cheap refusals, one writer."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.states: dict[int, SaleState] = {}
        self.held: dict[tuple[int, int], int] = {}
        self._loading: dict[int, asyncio.Future[SaleState]] = {}
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()  # the bookkeeping after a batch (several writers)
        self._dirty: dict[int, int] = {}  # sale id -> room id
        self._buyers: dict[int, list[str]] = {}
        self._last_publish: dict[int, float] = {}
        self.batches = 0
        self.committed = 0
        self._local = threading.local()  # each writer's own connection (PostgreSQL)
        self.writers = 1 if database.is_sqlite else WRITERS

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> None:
        # The writer's imports, now rather than on the first purchase of a sale.
        import xiaodian.orders.addresses
        import xiaodian.orders.checkout  # noqa: F401

        # The writer thread releases the GIL on every statement; with the event loop busy
        # answering thousands of refusals, the default 5 ms switch interval would make it
        # wait up to 5 ms to get it back after each one (a batch of purchases: ~50 ms).
        if sys.getswitchinterval() > SWITCH_INTERVAL:
            sys.setswitchinterval(SWITCH_INTERVAL)
        self.rebuild_gates()
        self._ensure_thread()
        realtime.hub.add_listener(self.on_message)

    def rebuild_gates(self) -> None:
        """With Redis: set the gates of running sales from the database before this
        process admits anyone. Admissions a process that died left in the gate were never
        written; the database still has their units (``RedisGate.rebuild``)."""
        gate = redis_gate()
        if gate is None:
            return
        try:
            with self.database.session(write=False) as db:
                gate.rebuild(db)
        except Exception:  # the leases and ``heal`` still give the units back
            log.exception("flash: could not rebuild the redis gates")

    def stop(self) -> None:
        realtime.hub.remove_listener(self.on_message)
        threads, self._threads = self._threads, []
        for _thread in threads:
            self._queue.put(None)
        for thread in threads:
            thread.join(timeout=5)

    # ---------------------------------------------------------------- state

    def on_message(self, message: realtime.Message) -> None:
        """Keep cached states true from every event (this process's and others')."""
        kind = message.type
        event = message.event
        if kind == "sale":
            data = event.get("sale") or {}
            state = self.states.get(int(data.get("id", 0)))
            if state is not None:
                state.status = str(data.get("status", state.status))
                state.remaining = int(data.get("remaining", state.remaining))
                ends = data.get("ends_at")
                state.ends_at = datetime.fromisoformat(ends) if ends else None
                state.loaded = time.monotonic()
                if event.get("returned") or state.remaining > 0:
                    for key in [k for k in self.held if k[0] == state.info.id]:
                        del self.held[key]
        elif kind == "sale_progress":
            state = self.states.get(int(event.get("sale_id", 0)))
            if state is not None:
                state.remaining = min(state.remaining, int(event.get("remaining", 0)))
        elif kind == "room":
            room = event.get("room") or {}
            for state in self.states.values():
                if state.info.room_id == room.get("id"):
                    state.room_status = str(room.get("status"))
                    state.loaded = time.monotonic()

    def _load(self, sale_id: int) -> SaleState:
        with self.database.session(write=False) as db:
            info, sale, room_status = load_info(db, sale_id)
            return SaleState(
                info=info,
                status=str(sale.status),
                ends_at=sale.ends_at,
                remaining=sale.remaining,
                room_status=str(room_status),
            )

    async def state(self, sale_id: int) -> SaleState:
        """The cached state, reloaded (once, shared by concurrent requests) when stale."""
        state = self.states.get(sale_id)
        if state is not None and time.monotonic() - state.loaded < VIEW_TTL:
            return state
        pending = self._loading.get(sale_id)
        if pending is None:
            loop = asyncio.get_running_loop()
            pending = loop.run_in_executor(None, self._load, sale_id)
            self._loading[sale_id] = pending
        try:
            fresh = await pending
        finally:
            self._loading.pop(sale_id, None)
        current = self.states.get(sale_id)
        if current is not None:
            # Keep what this process knows better than a read that raced its writer.
            current.status, current.ends_at = fresh.status, fresh.ends_at
            current.room_status, current.loaded = fresh.room_status, fresh.loaded
            current.remaining = fresh.remaining
            return current
        self.states[sale_id] = fresh
        return fresh

    # ---------------------------------------------------------------- buying

    async def buy(
        self,
        actor: Actor,
        *,
        room_id: int,
        sale_id: int,
        quantity: Any,
        address_id: int | None = None,
    ) -> Purchased:
        """The web path of ``buy``: refusals from memory, purchases through the writer."""
        buyer_id = actor.require_user()
        info, quantity = await self._precheck(room_id, sale_id, quantity)
        if self.held.get((info.id, buyer_id), 0) + quantity > info.per_buyer_limit:
            raise limit_reached(info.per_buyer_limit)
        # The Redis gate runs in the writer, one pipelined round trip per batch (not one
        # per request on the event loop): see ``_admit``.
        job = _Job(info=info, buyer=actor, quantity=quantity, address_id=address_id)
        return await self._enqueue(job)

    async def buy_by_token(
        self,
        token: str,
        *,
        room_id: int,
        sale_id: int,
        quantity: Any,
        address_id: int | None = None,
    ) -> Purchased:
        """``buy`` for a bearer token this process has not resolved yet (a buyer's first
        press): the refusals that need no buyer from memory, then the writer finds the
        buyer in its batch's transaction (one query for the whole batch, see
        ``_identify``) instead of a lookup on a worker thread before queueing: two
        thread hand-offs less on the way of every first purchase."""
        if not token or len(token) > 200:
            raise NotAuthenticated(_("Please sign in first."))
        info, quantity = await self._precheck(room_id, sale_id, quantity)
        job = _Job(info=info, buyer=ANONYMOUS, quantity=quantity, address_id=address_id)
        job.token = token
        return await self._enqueue(job)

    async def _precheck(self, room_id: int, sale_id: int, quantity: Any) -> tuple[SaleInfo, int]:
        quantity = check_quantity(quantity)
        if not isinstance(sale_id, int) or sale_id <= 0:
            raise unknown_sale()
        state = await self.state(sale_id)
        info = state.info
        precheck(room_id, info, state.status, state.ends_at, state.room_status)
        if quantity > info.per_buyer_limit:
            raise limit_reached(info.per_buyer_limit)
        if state.remaining < quantity:
            raise sold_out() if state.remaining <= 0 else _diagnose_memory(state)
        return info, quantity

    async def _enqueue(self, job: _Job) -> Purchased:
        self._ensure_thread()
        self._queue.put(job)
        return await asyncio.wrap_future(job.future)

    def _ensure_thread(self) -> None:
        if len(self._threads) == self.writers and all(t.is_alive() for t in self._threads):
            return
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            while len(self._threads) < self.writers:
                thread = threading.Thread(target=self._run, name="flash-writer", daemon=True)
                thread.start()
                self._threads.append(thread)

    def _run(self) -> None:
        while True:
            try:
                job = self._queue.get(timeout=PUBLISH_INTERVAL)
            except queue.Empty:
                with self._lock:
                    self._flush_events(force=True)
                continue
            if job is None:
                with self._lock:
                    self._flush_events(force=True)
                self._drop_connection()
                return
            batch = [job]
            waited = False
            while len(batch) < BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    if waited:
                        break
                    # Buyers of one burst arrive a little apart: a moment's wait saves
                    # a whole batch (its fixed statements) for the stragglers.
                    waited = True
                    try:
                        more = self._queue.get(timeout=STRAGGLER_WAIT)
                    except queue.Empty:
                        break
                if more is None:
                    self._queue.put(None)
                    break
                batch.append(more)
            try:
                self._commit(batch)
            except Exception:  # never let the writer die
                log.exception("flash: batch failed")
            with self._lock:
                self._flush_events(force=False)

    def _identify(
        self,
        db: Session,
        batch: list[_Job],
        results: list[tuple[_Job, Purchased | None, BaseException | None]],
    ) -> list[_Job]:
        """Find the buyers of the jobs that came with a bearer token, in one query inside
        the batch's transaction; cache them for the next requests. Unknown tokens and
        buyers already at their limit go to ``results``."""
        from xiaodian.accounts import authcache
        from xiaodian.accounts import service as accounts_service

        tokens = sorted({job.token for job in batch if job.token is not None})
        failure: Exception | None = None
        try:
            found = accounts_service.actors_for_tokens(db, tokens)
        except Exception as exc:
            log.exception("flash: could not find the buyers")
            db.rollback()
            found, failure = {}, exc
        kept: list[_Job] = []
        for job in batch:
            if job.token is None:
                kept.append(job)
                continue
            actor = found.get(job.token)
            if actor is None:
                results.append((job, None, failure or NotAuthenticated(_("Please sign in first."))))
                continue
            authcache.remember(job.token, actor)
            job.buyer, job.token = actor, None
            held = self.held.get((job.info.id, actor.user_id or 0), 0)
            if held + job.quantity > job.info.per_buyer_limit:
                results.append((job, None, limit_reached(job.info.per_buyer_limit)))
            else:
                kept.append(job)
        return kept

    def _admit(
        self,
        db: Session,
        batch: list[_Job],
        gate: RedisGate,
        results: list[tuple[_Job, Purchased | None, BaseException | None]],
    ) -> list[_Job]:
        """Ask the Redis gate about the whole batch in one round trip: the refused jobs go
        to ``results`` (they never reach the database), the rest are returned (with the
        ``ticket`` of their admission when Redis counted them, settled after the commit)."""
        verdicts = self._heal(db, gate, batch, gate.take_many(_asks(batch)))
        admitted: list[_Job] = []
        for job, verdict in zip(batch, verdicts, strict=True):
            if verdict.left == flash_gate.SOLD_OUT:
                state = self.states.get(job.info.id)
                if state is not None:
                    state.remaining = 0
                results.append((job, None, sold_out()))
            elif verdict.left == flash_gate.LIMIT_REACHED:
                results.append((job, None, limit_reached(job.info.per_buyer_limit)))
            else:
                job.ticket = verdict.ticket
                admitted.append(job)
        return admitted

    def _heal(
        self, db: Session, gate: RedisGate, batch: list[_Job], verdicts: list[Taken]
    ) -> list[Taken]:
        """A gate that says "sold out" while this process last saw the units in the
        database (or that does not know the sale) is rebuilt from the database when no
        admission is in flight (``RedisGate.heal``), then asked again for those jobs. A
        sale truly sold out is refused from memory before the gate, so this costs a read
        per sale and batch only while the gate and the database disagree."""
        retry = (flash_gate.SOLD_OUT, flash_gate.NOT_OPEN)
        suspects: set[int] = set()
        for job, verdict in zip(batch, verdicts, strict=True):
            state = self.states.get(job.info.id)
            if verdict.left == flash_gate.NOT_OPEN or (
                verdict.left == flash_gate.SOLD_OUT
                and state is not None
                and state.remaining >= job.quantity
            ):
                suspects.add(job.info.id)
        healed = {sale_id for sale_id in sorted(suspects) if gate.heal(db, sale_id)}
        again = [
            index
            for index, (job, verdict) in enumerate(zip(batch, verdicts, strict=True))
            if job.info.id in healed and verdict.left in retry
        ]
        out = list(verdicts)
        answers = gate.take_many(_asks([batch[index] for index in again]))
        for index, verdict in zip(again, answers, strict=True):
            out[index] = verdict
        return out

    def _commit(self, batch: list[_Job]) -> None:
        results: list[tuple[_Job, Purchased | None, BaseException | None]] = []
        refused: list[tuple[_Job, Purchased | None, BaseException | None]] = []
        done: Purchased | None
        gate = redis_gate()
        db = self._session()
        try:
            if any(job.token is not None for job in batch):
                batch = self._identify(db, batch, refused)
            if gate is not None:
                batch = self._admit(db, batch, gate, refused)
        except Exception as exc:  # every job gets an answer, whatever happens
            log.exception("flash: batch failed before its purchases")
            db.close()
            answered = refused + [(job, None, exc) for job in batch]
            with self._lock:
                self._settle(answered, gate)
            _settle_gate(gate, answered)
            return
        # Most jobs (default address, one per buyer) go through one set-based purchase per
        # sale; the others, and all of them if that fails, one by one.
        groups: dict[int, list[_Job]] = {}
        seen: set[tuple[int, int]] = set()
        single: list[_Job] = []
        for job in batch:
            key = (job.info.id, job.buyer.user_id or 0)
            if job.address_id is None and key not in seen:
                seen.add(key)
                groups.setdefault(job.info.id, []).append(job)
            else:
                single.append(job)
        with db:
            # The set-based purchases without savepoints (two round trips each on
            # PostgreSQL): if one fails, the whole transaction is rolled back and every job
            # of the batch goes one by one.
            # On PostgreSQL optimistic first (the sale row locked for the last statement
            # only); if the units were not all there, again in the locked order.
            for optimistic in (True, False) if self.writers > 1 else (False,):
                try:
                    for _sale_id, jobs in sorted(groups.items()):  # one lock order
                        outcomes = purchase_batch_in_tx(
                            db,
                            jobs[0].info,
                            [(job.buyer, job.quantity) for job in jobs],
                            optimistic=optimistic,
                        )
                        for job, outcome in zip(jobs, outcomes, strict=True):
                            if isinstance(outcome, Purchased):
                                results.append((job, outcome, None))
                            else:
                                results.append((job, None, outcome))
                except SaleMoved:
                    db.rollback()
                    results = []
                    continue
                except Exception:
                    log.exception("flash: batch purchase failed; one by one")
                    db.rollback()
                    results = []
                    single = [job for jobs in groups.values() for job in jobs] + single
                break
            for job in single:
                try:
                    with db.begin_nested():
                        done = purchase_in_tx(
                            db, job.info, job.buyer, job.quantity, address_id=job.address_id
                        )
                    results.append((job, done, None))
                except DomainError as exc:
                    results.append((job, None, exc))
                except Exception as exc:
                    log.exception("flash: purchase failed")
                    results.append((job, None, exc))
            try:
                db.commit()
            except Exception as exc:
                log.exception("flash: commit failed")
                db.rollback()
                self._drop_connection()
                results = [(job, None, exc) for job, _done, _err in results]
        with self._lock:
            self._settle(refused + results, gate)
        _settle_gate(gate, results)

    def _settle(
        self,
        results: list[tuple[_Job, Purchased | None, BaseException | None]],
        gate: RedisGate | None,
    ) -> None:
        self.batches += 1
        for job, done, error in results:
            info = job.info
            state = self.states.get(info.id)
            if done is not None:
                self.committed += 1
                key = (info.id, job.buyer.user_id or 0)
                self.held[key] = self.held.get(key, 0) + job.quantity
                if state is not None:
                    state.remaining = min(state.remaining, done.remaining)
                self._dirty[info.id] = info.room_id
                self._buyers.setdefault(info.id, []).append(mask_name(job.buyer.display_name))
                job.future.set_result(done)
                continue
            assert error is not None
            code = getattr(error, "code", "")
            if state is not None and code == "sold_out":
                state.remaining = 0
                self._dirty[info.id] = info.room_id
            if state is not None and code == "sale_not_running":
                state.loaded = 0.0  # reload on the next request
            job.future.set_exception(error)

    def _session(self) -> Session:
        """The writer's session. On PostgreSQL it keeps one connection for itself across
        batches (no pool checkout with its ping, no reset on return: two round trips less
        per batch); on SQLite, a pooled write session (BEGIN IMMEDIATE)."""
        if self.database.is_sqlite:
            return self.database.session()
        connection: Connection | None = getattr(self._local, "connection", None)
        if connection is not None and (connection.closed or connection.invalidated):
            self._drop_connection()
            connection = None
        if connection is None:
            connection = self._local.connection = self.database.engine.connect()
        return Session(bind=connection, expire_on_commit=False)

    def _drop_connection(self) -> None:
        connection: Connection | None = getattr(self._local, "connection", None)
        if connection is not None:
            self._local.connection = None
            try:
                connection.close()
            except Exception:
                log.exception("flash: could not close the writer's connection")

    def _flush_events(self, *, force: bool) -> None:
        """Publish the sales that changed: at most every PUBLISH_INTERVAL per sale (every
        CROWD_PUBLISH_INTERVAL when a crowd watches), and at once when one sells out; with
        Redis, at most that often between ALL the processes (``claim_progress``). A
        skipped change stays dirty: the writers' idle timeout publishes it (``force``)."""
        now = time.monotonic()
        gate: RedisGate | None = None
        for sale_id, room_id in list(self._dirty.items()):
            state = self.states.get(sale_id)
            remaining = state.remaining if state is not None else None
            crowded = realtime.hub.local_count(channel(room_id)) >= CROWD
            interval = CROWD_PUBLISH_INTERVAL if crowded else PUBLISH_INTERVAL
            due = now - self._last_publish.get(sale_id, 0.0) >= interval
            if not (force or due or remaining == 0):
                continue
            if not force and remaining != 0:
                # A routine update: one process per interval publishes it (the change
                # stays dirty here; the sold-out and the idle writer's last state always go).
                gate = gate or redis_gate()
                if gate is not None and not gate.claim_progress(sale_id, interval):
                    self._last_publish[sale_id] = now
                    continue
            del self._dirty[sale_id]
            self._last_publish[sale_id] = now
            buyers = self._buyers.pop(sale_id, [])[-5:]
            try:
                realtime.publish(
                    channel(room_id),
                    {
                        "type": "sale_progress",
                        "sale_id": sale_id,
                        "remaining": remaining,
                        "buyers": buyers,
                        "at": clock.now().isoformat(),
                    },
                )
            except Exception:
                log.exception("flash: could not publish progress")


def _settle_gate(
    gate: RedisGate | None, results: list[tuple[_Job, Purchased | None, BaseException | None]]
) -> None:
    """Settle the gate's admissions of a batch after its commit, one round trip."""
    if gate is not None:
        gate.settle((job.info.id, job.ticket, done is not None) for job, done, _e in results)


def _asks(jobs: list[_Job]) -> list[tuple[SaleInfo, int, int]]:
    return [(job.info, job.buyer.user_id or 0, job.quantity) for job in jobs]


def _diagnose_memory(state: SaleState) -> DomainError:
    return Conflict(_("Only %(n)s left."), code="sold_out", n=state.remaining)


engine: FlashEngine | None = None


def start_engine(database: Database) -> FlashEngine:
    global engine
    if engine is not None:
        engine.stop()
    engine = FlashEngine(database)
    engine.start()
    return engine


def stop_engine() -> None:
    global engine
    if engine is not None:
        engine.stop()
        engine = None
