"""Buying from a flash sale: one purchase (``buy``, ``purchase_in_tx``) or a writer's batch
(``purchase_batch_in_tx``), the units taken from the sale row and the orders written
through the orders domain.

In the web process purchases go through ``FlashEngine`` (``flash_engine``; the Redis gate is
``flash_gate``): requests are answered from memory when the sale is sold out, ended or the
buyer is at the limit, and the rest are queued to writer threads that commit them in batches
(group commit): ONE on SQLite, so 64 concurrent buyers never spin on its busy lock;
``WRITERS`` on PostgreSQL, each on a connection of its own, where a batch is ONE statement
(``onestatement`` with ``orders.batch``: every statement is a network round trip there, and
the client work around each one was most of a batch's time) that writes the orders BEFORE
taking the units from the sale row (``optimistic``), so the hot row is locked from the end
of that statement to the commit only and the writers' batches overlap. An optimistic batch
that finds too few units rolls back and runs again in the locked order, one statement per
table. Updates of "remaining" are coalesced to at most 4 events per second per sale, 2 when
a crowd watches the room in this process (each event goes to every viewer), between all the
processes when Redis is configured, plus one the moment it sells out; the last state is
always published.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from xiaodian import bulk, clock, realtime
from xiaodian.actor import Actor
from xiaodian.content.live import flash_gate, onestatement
from xiaodian.content.live.flash import (
    Purchased,
    SaleInfo,
    SaleMoved,
    check_quantity,
    limit_reached,
    load_info,
    mask_name,
    no_address,
    not_running,
    precheck,
    sold_out,
    unknown_sale,
)
from xiaodian.content.live.flash_gate import redis_gate
from xiaodian.content.live.models import (
    ORDER_CHANNEL,
    FlashOrderState,
    FlashSale,
    FlashSaleBuyer,
    FlashSaleOrder,
    SaleStatus,
)
from xiaodian.content.live.service import channel
from xiaodian.errors import Conflict, DomainError, _
from xiaodian.orders import addresses
from xiaodian.orders.checkout import (
    Channel,
    CreatedOrder,
    PricedLine,
    create_orders,
    create_orders_for_buyers,
)

_FLASH_ORDERS = cast(Table, FlashSaleOrder.__table__)
_FLASH_BUYERS = cast(Table, FlashSaleBuyer.__table__)


def _upsert_insert(db: Session) -> Any:
    return postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert


def _take_limit(db: Session, info: SaleInfo, buyer_id: int, quantity: int) -> bool:
    """Count ``quantity`` more units against the buyer's limit, atomically; False if over."""
    stmt = _upsert_insert(db)(FlashSaleBuyer).values(
        sale_id=info.id, buyer_id=buyer_id, bought=quantity
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["sale_id", "buyer_id"],
        set_={"bought": FlashSaleBuyer.bought + quantity},
        where=FlashSaleBuyer.bought + quantity <= info.per_buyer_limit,
    )
    if quantity > info.per_buyer_limit:
        return False
    # RETURNING decides (a row only when inserted or when the WHERE let the update through).
    return db.execute(stmt.returning(FlashSaleBuyer.bought)).first() is not None


def _diagnose(db: Session, sale_id: int, quantity: int) -> DomainError:
    row = db.execute(
        select(FlashSale.status, FlashSale.remaining, FlashSale.ends_at).where(
            FlashSale.id == sale_id
        )
    ).first()
    if row is None:
        return unknown_sale()
    status, remaining, ends_at = row
    if status != SaleStatus.RUNNING or (ends_at is not None and ends_at <= clock.now()):
        return not_running()
    if remaining < quantity:
        return (
            sold_out()
            if remaining <= 0
            else Conflict(_("Only %(n)s left."), code="sold_out", n=remaining)
        )
    return not_running()


def purchase_in_tx(
    db: Session,
    info: SaleInfo,
    buyer: Actor,
    quantity: int,
    *,
    address_id: int | None = None,
) -> Purchased:
    """One purchase, inside the caller's transaction (joins it; roll back on an error).

    Raises Conflict (sold out, limit reached), IllegalTransition (not running),
    InvalidInput (no address), NotFound."""
    buyer_id = buyer.require_user()
    address = addresses.delivery_address(db, buyer, address_id)
    if not _take_limit(db, info, buyer_id, quantity):
        raise limit_reached(info.per_buyer_limit)
    now = clock.now()
    row = db.execute(
        update(FlashSale)
        .where(
            FlashSale.id == info.id,
            FlashSale.status == SaleStatus.RUNNING,
            FlashSale.ends_at > now,
            FlashSale.remaining >= quantity,
        )
        .values(remaining=FlashSale.remaining - quantity, sold=FlashSale.sold + quantity)
        .returning(FlashSale.remaining)
        .execution_options(synchronize_session=False)
    ).first()
    if row is None:
        raise _diagnose(db, info.id, quantity)
    orders = create_orders(
        db,
        buyer_id=buyer_id,
        lines=[PricedLine(info.sku_id, quantity, info.price_fen)],
        address=address,
        channel=Channel(type=ORDER_CHANNEL, ref_id=info.room_id),
        enforce_limits=False,
        reserve_stock=False,
        charge_shipping=False,  # a flash price is all-in, as in the batch
    )
    order = orders[0]
    db.execute(
        insert(FlashSaleOrder).values(
            sale_id=info.id,
            room_id=info.room_id,
            order_id=order.id,
            order_no=order.order_no,
            buyer_id=buyer_id,
            quantity=quantity,
            amount_fen=order.total_fen,
            state=FlashOrderState.LIVE,
            created_at=now,
        )
    )
    return Purchased(
        sale_id=info.id,
        room_id=info.room_id,
        order_no=order.order_no,
        quantity=quantity,
        amount_fen=order.total_fen,
        remaining=int(row[0]),
    )


def _write_purchases(
    db: Session,
    info: SaleInfo,
    buyers: list[tuple[Actor, int]],
    indexes: list[int],
    found: dict[int, Any],
    now: datetime,
) -> list[CreatedOrder]:
    """The orders (one batch per table) and ``flash_sale_orders`` rows of ``indexes``."""
    channel_ = Channel(type=ORDER_CHANNEL, ref_id=info.room_id)
    carts = [
        (
            int(buyers[i][0].user_id or 0),
            [PricedLine(info.sku_id, buyers[i][1], info.price_fen)],
            found[int(buyers[i][0].user_id or 0)].snapshot(),
        )
        for i in indexes
    ]
    quantities = {int(buyers[i][0].user_id or 0): buyers[i][1] for i in indexes}

    def flash_rows(created: list[CreatedOrder]) -> list[tuple[Table, list[dict[str, Any]]]]:
        return [
            (
                _FLASH_ORDERS,
                [
                    {
                        "sale_id": info.id,
                        "room_id": info.room_id,
                        "order_id": order.id,
                        "order_no": order.order_no,
                        "buyer_id": order.buyer_id,
                        "quantity": quantities[order.buyer_id],
                        "amount_fen": order.total_fen,
                        "state": FlashOrderState.LIVE,
                        "created_at": now,
                    }
                    for order in created
                ],
            )
        ]

    # The flash-sale rows go with the orders' lines and events (one statement on PostgreSQL).
    orders = [
        o[0]
        for o in create_orders_for_buyers(
            db, carts, channel=channel_, reserve_stock=False, also=flash_rows
        )
    ]
    return orders


def purchase_batch_in_tx(
    db: Session,
    info: SaleInfo,
    buyers: list[tuple[Actor, int]],
    *,
    optimistic: bool = False,
) -> list[Purchased | DomainError]:
    """Many purchases of one sale, each at the buyer's default address, inside the caller's
    transaction (joins it): the same few statements for 1 or 200 buyers. ``buyers`` are
    (actor, quantity) of DISTINCT buyers. Returns, per buyer, the purchase or the refusal
    (sold out, limit reached, not running, no address). Any exception means: roll back.

    One statement per table and step, whatever the number of buyers (on PostgreSQL each
    statement is a network round trip): the default addresses in one read, the per-buyer
    limits in one conditional upsert, the units in ONE conditional UPDATE of the sale row
    (``remaining >= total``, running, not past its end) and the orders, their lines and
    the ``flash_sale_orders`` rows in one batch each. The sale row is locked only from that
    UPDATE to the commit. When the UPDATE does not match (selling out in this batch, or the
    sale stopped) the row is read under its lock (FOR UPDATE on PostgreSQL; SQLite's write
    transaction is IMMEDIATE) and the units that fit are handed out in order; the buyers
    counted against their limit without units get the count back.

    ``optimistic``: write the orders BEFORE taking the units, so the sale row is locked
    only for its UPDATE and the commit (several writers overlap); raises ``SaleMoved``
    when the units are not all there (the caller rolls back and calls again without).
    On PostgreSQL that is the whole batch in ONE statement (``onestatement``)."""
    count = len(buyers)
    if len({actor.user_id for actor, _q in buyers}) != count:
        raise ValueError("purchase_batch_in_tx needs distinct buyers")
    if optimistic and bulk.is_postgresql(db):  # the whole batch in one statement
        return onestatement.purchase(
            db,
            info,
            buyers,
            [
                limit_reached(info.per_buyer_limit) if q > info.per_buyer_limit else None
                for _a, q in buyers
            ],
            limit_reached=lambda: limit_reached(info.per_buyer_limit),
            no_address=no_address,
        )
    results: list[Purchased | DomainError | None] = [None] * count
    now = clock.now()
    found = addresses.default_addresses(db, [actor.require_user() for actor, _q in buyers])
    candidates: list[int] = []
    for index, (actor, quantity) in enumerate(buyers):
        if quantity > info.per_buyer_limit:
            results[index] = limit_reached(info.per_buyer_limit)
        elif actor.user_id not in found:
            results[index] = no_address()
        else:
            candidates.append(index)
    counted = _count_against_limits(db, info, buyers, candidates, results)
    orders: list[CreatedOrder] = []
    moved = None
    if counted and optimistic:
        # Write first, take the units last: the sale row stays locked for one statement
        # and the commit only, so other writers' batches overlap with this one.
        orders = _write_purchases(db, info, buyers, counted, found, now)
        moved = db.execute(_take(info, buyers, counted, now)).first()
        if moved is None:
            raise SaleMoved(info.id)
    elif counted:
        moved = db.execute(_take(info, buyers, counted, now)).first()
    if moved is not None:  # the common case: everyone counted gets their units
        taken, after = counted, int(moved[0])
    else:
        handed = _hand_out_locked(db, info, buyers, counted, now, results)
        if isinstance(handed, DomainError):
            return [handed for _b in buyers]
        taken, after = handed
    if taken:
        if not orders:
            orders = _write_purchases(db, info, buyers, taken, found, now)
        left = after + sum(buyers[i][1] for i in taken)
        for i, order in zip(taken, orders, strict=True):
            left -= buyers[i][1]
            results[i] = Purchased(
                sale_id=info.id,
                room_id=info.room_id,
                order_no=order.order_no,
                quantity=buyers[i][1],
                amount_fen=order.total_fen,
                remaining=left,
            )
    out: list[Purchased | DomainError] = []
    for result in results:
        assert result is not None
        out.append(result)
    return out


def _count_against_limits(
    db: Session,
    info: SaleInfo,
    buyers: list[tuple[Actor, int]],
    candidates: list[int],
    results: list[Purchased | DomainError | None],
) -> list[int]:
    """Count each candidate against the per-buyer limit in one conditional upsert (in buyer
    order: concurrent batches lock rows in one order); the counted, the others refused."""
    if not candidates:
        return []
    limit_rows = [
        {"sale_id": info.id, "buyer_id": buyers[i][0].user_id, "bought": buyers[i][1]}
        for i in sorted(candidates, key=lambda i: int(buyers[i][0].user_id or 0))
    ]
    table = _FLASH_BUYERS
    upsert: Any
    if bulk.is_postgresql(db):  # one statement text whatever the batch size (``bulk``)
        names = ("sale_id", "buyer_id", "bought")
        source = bulk.rows_source(db, table, names)
        upsert = postgresql.insert(table).from_select(names, source)
        params: dict[str, Any] = bulk.rows_param(table, names, limit_rows)
    else:
        upsert = sqlite.insert(table).values(limit_rows)
        params = {}
    upsert = upsert.on_conflict_do_update(
        index_elements=["sale_id", "buyer_id"],
        set_={"bought": table.c.bought + upsert.excluded.bought},
        where=table.c.bought + upsert.excluded.bought <= info.per_buyer_limit,
    )
    ids = set(db.scalars(upsert.returning(table.c.buyer_id), params))
    counted: list[int] = []
    for index in candidates:
        if buyers[index][0].user_id in ids:
            counted.append(index)
        else:
            results[index] = limit_reached(info.per_buyer_limit)
    return counted


def _take(
    info: SaleInfo, buyers: list[tuple[Actor, int]], indexes: list[int], now: datetime
) -> Any:
    """The units of ``indexes`` from the sale row, all or nothing (running, not past its
    end, enough left); returns the remaining."""
    total = sum(buyers[i][1] for i in indexes)
    return (
        update(FlashSale)
        .where(
            FlashSale.id == info.id,
            FlashSale.status == SaleStatus.RUNNING,
            FlashSale.ends_at > now,
            FlashSale.remaining >= total,
        )
        .values(remaining=FlashSale.remaining - total, sold=FlashSale.sold + total)
        .returning(FlashSale.remaining)
        .execution_options(synchronize_session=False)
    )


def _hand_out_locked(
    db: Session,
    info: SaleInfo,
    buyers: list[tuple[Actor, int]],
    counted: list[int],
    now: datetime,
    results: list[Purchased | DomainError | None],
) -> tuple[list[int], int] | DomainError:
    """Not enough units for everyone counted (or the sale moved): read the sale row under
    its lock and hand out what fits, in order; the buyers left without units get their
    count back. Returns (the buyers served, the units left after them), or the refusal of
    every buyer when the sale is gone or not running."""
    read = select(FlashSale.status, FlashSale.remaining, FlashSale.ends_at).where(
        FlashSale.id == info.id
    )
    if db.get_bind().dialect.name == "postgresql":
        read = read.with_for_update()
    row = db.execute(read).first()
    running = (
        row is not None and row[0] == SaleStatus.RUNNING and row[2] is not None and row[2] > now
    )
    left = int(row[1]) if row is not None and running else 0
    taken: list[int] = []
    back: dict[int, list[int]] = {}  # quantity -> buyers counted without units
    for index in counted:
        actor, quantity = buyers[index]
        if quantity <= left:
            taken.append(index)
            left -= quantity
            continue
        results[index] = (
            sold_out() if left <= 0 else Conflict(_("Only %(n)s left."), code="sold_out", n=left)
        )
        back.setdefault(quantity, []).append(int(actor.user_id or 0))
    for quantity, buyer_ids in back.items():  # take their counts back
        db.execute(
            update(FlashSaleBuyer)
            .where(FlashSaleBuyer.sale_id == info.id, FlashSaleBuyer.buyer_id.in_(buyer_ids))
            .values(bought=FlashSaleBuyer.bought - quantity)
            .execution_options(synchronize_session=False)
        )
    if row is None:
        return unknown_sale()
    if not running:
        return not_running()
    after = 0
    if taken:
        part = sum(buyers[i][1] for i in taken)
        again = db.execute(
            update(FlashSale)
            .where(
                FlashSale.id == info.id,
                FlashSale.status == SaleStatus.RUNNING,
                FlashSale.remaining >= part,
            )
            .values(remaining=FlashSale.remaining - part, sold=FlashSale.sold + part)
            .returning(FlashSale.remaining)
            .execution_options(synchronize_session=False)
        ).first()
        if again is None or int(again[0]) != int(row[1]) - part:
            raise RuntimeError("flash sale row changed under its lock")
        after = int(again[0])
    return taken, after


def buy(
    db: Session,
    actor: Actor,
    *,
    room_id: int,
    sale_id: int,
    quantity: int,
    address_id: int | None = None,
) -> Purchased:
    """A viewer buys from a flash sale: one transaction, commits, publishes the new
    remaining. (The web process batches the same work through ``flash_engine``.)"""
    actor.require_user()
    quantity = check_quantity(quantity)
    info, sale, room_status = load_info(db, sale_id)
    precheck(room_id, info, sale.status, sale.ends_at, room_status)
    if quantity > info.per_buyer_limit:
        raise limit_reached(info.per_buyer_limit)
    remaining = sale.remaining
    db.rollback()  # end the read; the write transaction starts below (IMMEDIATE on SQLite)
    gate = redis_gate()
    ticket = ""
    if gate is not None:
        taken = gate.take(info, actor.user_id or 0, quantity)
        # The gate does not know the sale, or says sold out while the database had the
        # units a moment ago: rebuild it if nothing is in flight, and ask again.
        doubtful = taken.left == flash_gate.NOT_OPEN or (
            taken.left == flash_gate.SOLD_OUT and remaining >= quantity
        )
        if doubtful and gate.heal(db, info.id):
            taken = gate.take(info, actor.user_id or 0, quantity)
        if taken.left == flash_gate.SOLD_OUT:
            raise sold_out()
        if taken.left == flash_gate.LIMIT_REACHED:
            raise limit_reached(info.per_buyer_limit)
        ticket = taken.ticket
    try:
        result = purchase_in_tx(db, info, actor, quantity, address_id=address_id)
        realtime.publish(
            channel(info.room_id),
            {
                "type": "sale_progress",
                "sale_id": info.id,
                "remaining": result.remaining,
                "buyers": [mask_name(actor.display_name)],
            },
            db=db,
        )
        db.commit()
    except BaseException:
        db.rollback()
        if gate is not None:
            gate.settle([(info.id, ticket, False)])
        raise
    if gate is not None:
        gate.settle([(info.id, ticket, True)])
    return result
