"""Orders: the use cases of buyers on their orders, the contract with payments and
after-sales, and the two periodic jobs (payment timeout, auto-complete).

Related use cases live beside this module, split by concept: ``cart.py``, ``addresses.py``,
``checkout.py`` (``checkout`` and the internal ``create_orders``), ``fulfilment.py`` (the
merchant side: shipping, batch shipping, export). Transitions are in ``states.py``.

Functions marked "joins the caller's transaction" never commit; every other public function
is one transaction and commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian import settings as settings_module
from xiaodian.actor import Actor
from xiaodian.catalog import inventory
from xiaodian.errors import Conflict, IllegalTransition, InvalidInput, NotFound, _
from xiaodian.orders import due, lifecycle, states
from xiaodian.orders.models import AppliedRefund, OrderEvent
from xiaodian.orders.models import Order as Order  # re-exported: other domains use this
from xiaodian.orders.models import OrderLine as OrderLine  # re-exported, as Order
from xiaodian.orders.models import OrderStatus as OrderStatus  # re-exported, as Order

S = OrderStatus
PAGE_SIZE = 20

# Buyer tabs: 全部 / 待付款 / 待发货 / 待收货 / 已完成 / 售后
TABS: dict[str, str] = {
    "all": _("All"),
    "unpaid": _("To pay"),
    "to_ship": _("To ship"),
    "to_receive": _("To receive"),
    "completed": _("Completed"),
    "aftersale": _("After-sales"),
}
_TAB_STATUS = {
    "unpaid": S.PENDING_PAYMENT,
    "to_ship": S.PAID,
    "to_receive": S.SHIPPED,
    "completed": S.COMPLETED,
}


# --------------------------------------------------------------------------- contract


@dataclass
class PaidResult:
    """What ``mark_paid`` did to each order of a payment (order ids)."""

    paid: list[int] = field(default_factory=list)  # newly paid now
    already: list[int] = field(default_factory=list)  # paid earlier by this same payment
    unpayable: list[int] = field(default_factory=list)  # cancelled, or paid by another


def get_order_by_no(db: Session, *, order_no: str) -> Order:
    """The order with this number, no permission check (internal use)."""
    order = db.scalar(select(Order).where(Order.order_no == order_no))
    if order is None:
        raise NotFound(_("Order not found."), code="order_not_found")
    return order


def _get(db: Session, order_id: int) -> Order:
    order = db.get(Order, order_id)
    if order is None:
        raise NotFound(_("Order not found."), code="order_not_found")
    return order


@dataclass(frozen=True)
class PayableOrder:
    """What a payment needs of an order awaiting payment (``payable_orders``)."""

    id: int
    order_no: str
    total_fen: int
    pay_deadline: datetime
    title: str  # the first line's product title, and "等N件" with more than one item


# Statements on the table, not the mapped class: a statement of mapped attributes goes
# through the ORM's execution (its compile state, its bulk UPDATE), which costs about as
# much again as the statement itself, for rows nobody loads as objects.
_ORDERS = cast(Table, Order.__table__)

_LINES = cast(Table, OrderLine.__table__)

_PAYABLE = select(
    _ORDERS.c.id,
    _ORDERS.c.order_no,
    _ORDERS.c.status,
    _ORDERS.c.total_fen,
    _ORDERS.c.pay_deadline,
    select(_LINES.c.title)
    .where(_LINES.c.order_id == _ORDERS.c.id)
    .order_by(_LINES.c.id)
    .limit(1)
    .scalar_subquery()
    .label("first_title"),
    select(func.coalesce(func.sum(_LINES.c.quantity), 0))
    .where(_LINES.c.order_id == _ORDERS.c.id)
    .scalar_subquery()
    .label("items"),
).where(
    _ORDERS.c.order_no.in_(bindparam("nos", expanding=True)),
    _ORDERS.c.buyer_id == bindparam("buyer"),
)


def payable_orders(db: Session, actor: Actor, order_nos: list[str]) -> list[PayableOrder]:
    """The actor's own orders, all awaiting payment and within their deadline, in ONE
    query however many (their lines are not loaded: the first title and the item count
    come as columns).

    NotFound for unknown numbers or other buyers' orders; IllegalTransition (409) when one
    of them cannot be paid. Joins the caller's transaction (read only).
    """
    buyer_id = actor.require_user()
    wanted = list(dict.fromkeys(no.strip() for no in order_nos if no and no.strip()))
    if not wanted:
        raise InvalidInput(_("Choose at least one order to pay."), code="no_orders")
    if len(wanted) > 50:
        raise InvalidInput(_("Too many orders at once."), code="too_many_orders")
    found = {row.order_no: row for row in db.execute(_PAYABLE, {"nos": wanted, "buyer": buyer_id})}
    orders = []
    now = clock.now()
    for no in wanted:
        row = found.get(no)
        if row is None:
            raise NotFound(_("Order not found."), code="order_not_found")
        if row.status != S.PENDING_PAYMENT:
            raise states.refusal(row.status)
        if row.pay_deadline <= now:
            raise IllegalTransition(
                _("The payment time of this order has run out."), code="payment_expired"
            )
        title = row.first_title or row.order_no
        orders.append(
            PayableOrder(
                id=row.id,
                order_no=row.order_no,
                total_fen=row.total_fen,
                pay_deadline=row.pay_deadline,
                title=f"{title} 等{row.items}件" if row.items > 1 else title,
            )
        )
    return orders


# Every id of the payment exists (a constant of the statement ``states.advance`` keeps).
_ALL_EXIST = (
    select(func.count())
    .select_from(_ORDERS)
    .where(_ORDERS.c.id.in_(bindparam("all_ids", expanding=True)))
    .scalar_subquery()
    == bindparam("n_ids"),
)


def mark_paid(
    db: Session, *, order_ids: list[int], paid_at: datetime, payment_ref: str
) -> PaidResult:
    """Payment ``payment_ref`` succeeded for these orders. Joins the caller's transaction.

    Orders still awaiting payment become paid (``paid_fen = total_fen``, stock reserved ->
    sold, an event), by one conditional UPDATE, so two concurrent notifications cannot both
    pay. Orders already paid by this same ref are reported in ``already``; the rest
    (cancelled meanwhile, or paid by another payment) in ``unpayable``: refund those.
    A payment that arrives after the deadline but before the timeout job ran still counts.
    An unknown id raises NotFound and nothing is written (the UPDATE itself checks that
    every id exists). The usual case costs the transition's statements and nothing more.
    """
    ids = list(dict.fromkeys(order_ids))
    if not payment_ref:
        raise InvalidInput(_("A payment reference is required."), code="no_payment_ref")
    # Every id must exist for anything to be written (in the UPDATE itself, no read first):
    # a caller that catches the NotFound and commits must not have paid half the orders.
    moved = set(
        states.advance(
            db,
            ids,
            "pay",
            actor_kind="payment",
            note=payment_ref,
            at=paid_at,
            values={"paid_fen": Order.total_fen, "payment_ref": payment_ref},
            where=_ALL_EXIST,
            params={"all_ids": ids, "n_ids": len(ids)},
        )
    )
    if len(moved) == len(ids):  # the usual case: nothing more to read
        return PaidResult(paid=ids)
    rest = {
        order_id: (status, ref)
        for order_id, status, ref in db.execute(
            select(Order.id, Order.status, Order.payment_ref).where(
                Order.id.in_([i for i in ids if i not in moved])
            )
        )
    }
    if len(rest) + len(moved) != len(ids):
        raise NotFound(_("Order not found."), code="order_not_found")
    result = PaidResult()
    for order_id in ids:
        if order_id in moved:
            result.paid.append(order_id)
            continue
        status, ref = rest[order_id]
        if ref == payment_ref and status != S.CANCELLED:
            result.already.append(order_id)
        else:
            result.unpayable.append(order_id)
    return result


def hold(db: Session, *, order_ids: list[int], held: bool = True) -> None:
    """Hold these orders (a campaign's group buy forming: not shippable) or release them.
    Joins the caller's transaction; one statement."""
    if order_ids:
        db.execute(
            update(Order)
            .where(Order.id.in_(order_ids))
            .values(held=held)
            .execution_options(synchronize_session=False)
        )
        if held:
            due.close_for(db, order_ids, "held")
        else:
            due.open_for(db, order_ids, again=True)


def cancel_unpaid(db: Session, *, order_ids: list[int], note: str) -> list[int]:
    """Cancel these orders if they still await payment (their stock released), e.g. the
    unpaid places of a group buy that ended. Joins the caller's transaction; the ids moved."""
    return states.advance(db, order_ids, "cancel", actor_kind="system", note=note[:200])


def has_paid_order(db: Session, *, buyer_id: int, shop_id: int | None = None) -> bool:
    """Whether the buyer ever paid an order (in the shop, when given): one query."""
    query = select(Order.id).where(Order.buyer_id == buyer_id, Order.paid_at.is_not(None))
    if shop_id is not None:
        query = query.where(Order.shop_id == shop_id)
    return db.scalar(query.limit(1)) is not None


def refundable_fen(db: Session, *, order_id: int) -> int:
    """``paid_fen - refunded_fen`` (refunds still in flight are the payments side's)."""
    order = _get(db, order_id)
    return order.paid_fen - order.refunded_fen


def _insert_ignore(db: Session, values: dict[str, object]) -> bool:
    """INSERT the applied refund unless its (order, ref) exists; True when inserted."""
    dialect = db.get_bind().dialect.name
    stmt = (
        postgresql.insert(AppliedRefund)
        if dialect == "postgresql"
        else sqlite.insert(AppliedRefund)
    ).values(values)
    result = db.execute(
        stmt.on_conflict_do_nothing(index_elements=["order_id", "refund_ref"]).returning(
            AppliedRefund.id
        )
    )
    return result.scalar() is not None


def apply_refund(db: Session, *, order_id: int, amount_fen: int, refund_ref: str) -> Order:
    """A refund SUCCEEDED at the provider: count it. Joins the caller's transaction.

    ``refunded_fen += amount_fen`` (never above ``paid_fen``: Conflict), with an event.
    Fully refunded and not yet shipped -> ``closed``, and its sold stock goes back on hand.
    Idempotent per ``refund_ref``: the same ref again changes nothing.
    """
    if not isinstance(amount_fen, int) or isinstance(amount_fen, bool) or amount_fen <= 0:
        raise InvalidInput(_("The refund amount must be positive."), code="bad_amount")
    if not refund_ref or len(refund_ref) > 64:
        raise InvalidInput(_("A refund reference is required."), code="no_refund_ref")
    order = _get(db, order_id)
    # Claim the ref first: on PostgreSQL a concurrent call with the same ref waits on the
    # unique index until this transaction ends and then inserts nothing, so a notification
    # delivered twice at once is a no-op (not a Conflict once the order is fully refunded).
    if not _insert_ignore(
        db,
        {
            "order_id": order_id,
            "refund_ref": refund_ref,
            "amount_fen": amount_fen,
            "at": clock.now(),
        },
    ):
        db.refresh(order)
        return order
    capped = db.execute(
        update(Order)
        .where(Order.id == order_id, Order.refunded_fen + amount_fen <= Order.paid_fen)
        .values(refunded_fen=Order.refunded_fen + amount_fen)
        .execution_options(synchronize_session=False)
    )
    if capped.rowcount != 1:  # type: ignore[attr-defined]
        # Leave no claim behind, even if the caller goes on and commits.
        db.execute(
            delete(AppliedRefund).where(
                AppliedRefund.order_id == order_id, AppliedRefund.refund_ref == refund_ref
            )
        )
        raise Conflict(_("The refund is more than what was paid."), code="refund_exceeds_paid")
    db.refresh(order)
    states.record(db, order, "refund", actor_kind="payment", note=f"{refund_ref} {amount_fen}")
    lifecycle.announce(
        db,
        lifecycle.Change(
            "refunded",
            (order.id,),
            clock.now(),
            action="refund",
            amount_fen=amount_fen,
            ref=refund_ref,
        ),
    )
    if order.refunded_fen >= order.paid_fen and order.status == S.PAID:
        states.advance(db, [order.id], "close", actor_kind="system", note=refund_ref)
        db.refresh(order)
    return order


def lock_order(db: Session, *, order_id: int) -> None:
    """Hold the order's row until the transaction ends. Joins the caller's transaction.

    After-sales takes it before it counts an order's open cases and then calls
    ``set_aftersale_open``: a case opened concurrently (whose ``set_aftersale_open`` locks
    the same row) is then either committed and counted, or waits for this transaction.
    PostgreSQL only; SQLite writers are serialized already.
    """
    inventory.lock_rows(db, _ORDERS, [order_id])


def set_aftersale_open(db: Session, *, order_id: int, open: bool) -> Order:
    """After-sales marks an order as having (or no longer having) an open case.

    While open, the order is not auto-completed and cannot be shipped (the ship UPDATE
    checks the flag). One conditional UPDATE after a row lock: only a real change writes
    an event, whatever a loaded copy of the order says, and concurrent callers queue on the
    row (see ``lock_order``). NotFound for an unknown id. Joins the caller's transaction.
    """
    lock_order(db, order_id=order_id)
    changed = db.execute(
        update(Order)
        .where(Order.id == order_id, Order.aftersale_open.is_not(open))
        .values(aftersale_open=open)
        .returning(Order.id)
        .execution_options(synchronize_session=False)
    ).scalar()
    order = db.get(Order, order_id, populate_existing=True)
    if order is None:
        raise NotFound(_("Order not found."), code="order_not_found")
    if changed is not None:
        event = "aftersale_opened" if open else "aftersale_closed"
        states.record(db, order, event, actor_kind="aftersale")
        db.flush()
        lifecycle.announce(db, lifecycle.Change(event, (order.id,), clock.now(), action=event))
    return order


# --------------------------------------------------------------------------- buyers


@dataclass
class OrderPage:
    orders: list[Order]
    total: int
    page: int
    pages: int


def page_of(db: Session, query: Select[Order], count_query: Select[int], page: int) -> OrderPage:
    total = int(db.scalar(count_query) or 0)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    orders = list(db.scalars(query.limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)))
    return OrderPage(orders=orders, total=total, page=page, pages=pages)


def list_my_orders(db: Session, actor: Actor, *, tab: str = "all", page: int = 1) -> OrderPage:
    buyer_id = actor.require_user()
    if tab not in TABS:
        raise InvalidInput(_("Unknown tab."), code="bad_tab")
    conds = [Order.buyer_id == buyer_id]
    if tab in _TAB_STATUS:
        conds.append(Order.status == _TAB_STATUS[tab])
    elif tab == "aftersale":
        conds.append(or_(Order.refunded_fen > 0, Order.aftersale_open.is_(True)))
    query = select(Order).where(*conds).order_by(Order.created_at.desc(), Order.id.desc())
    count = select(func.count()).select_from(Order).where(*conds)
    return page_of(db, query, count, page)


def get_my_order(db: Session, actor: Actor, order_no: str) -> Order:
    """The signed-in buyer's order; other people's orders are "not found"."""
    buyer_id = actor.require_user()
    order = db.scalar(select(Order).where(Order.order_no == order_no, Order.buyer_id == buyer_id))
    if order is None:
        raise NotFound(_("Order not found."), code="order_not_found")
    return order


def order_events(db: Session, order_id: int) -> list[OrderEvent]:
    return list(
        db.scalars(
            select(OrderEvent)
            .where(OrderEvent.order_id == order_id)
            .order_by(OrderEvent.at, OrderEvent.id)
        )
    )


def cancel_order(db: Session, actor: Actor, order_no: str, *, reason: str = "") -> Order:
    """The buyer cancels an unpaid order; its stock goes back on hand (once)."""
    order = get_my_order(db, actor, order_no)
    states.advance_one(
        db, order, "cancel", actor_id=actor.user_id, actor_kind="buyer", note=reason[:200] or None
    )
    db.commit()
    return order


def confirm_receipt(db: Session, actor: Actor, order_no: str) -> Order:
    """The buyer confirms a shipped order arrived: shipped -> completed."""
    order = get_my_order(db, actor, order_no)
    states.advance_one(db, order, "complete", actor_id=actor.user_id, actor_kind="buyer")
    db.commit()
    return order


# --------------------------------------------------------------------------- jobs

JOB_BATCH = 500


def cancel_expired_orders(db: Session) -> int:
    """Cancel unpaid orders past their deadline, releasing their stock. Idempotent; commits.

    Safe to run twice or beside a payment notification: each order moves only if it is
    still awaiting payment at the moment of the UPDATE.
    """
    now = clock.now()
    total = 0
    while True:
        ids = list(
            db.scalars(
                select(Order.id)
                .where(Order.status == S.PENDING_PAYMENT, Order.pay_deadline <= now)
                .order_by(Order.pay_deadline)
                .limit(JOB_BATCH)
            )
        )
        moved = states.advance(
            db,
            ids,
            "timeout",
            note="payment timeout",
            where=[Order.pay_deadline <= now],
        )
        db.commit()
        total += len(moved)
        if len(ids) < JOB_BATCH:
            return total


def auto_complete_orders(db: Session) -> int:
    """Complete orders with no open after-sales ``order_auto_complete_days`` after the
    parcel was signed for, or after shipping when no signature was reported."""
    days = settings_module.current().order_auto_complete_days
    cutoff = clock.now() - timedelta(days=days)
    conds = [
        Order.status == S.SHIPPED,
        or_(
            and_(Order.delivered_at.is_(None), Order.shipped_at <= cutoff),
            Order.delivered_at <= cutoff,
        ),
        Order.aftersale_open.is_(False),
    ]
    total = 0
    while True:
        ids = list(db.scalars(select(Order.id).where(*conds).limit(JOB_BATCH)))
        moved = states.advance(db, ids, "complete", note="auto-completed", where=conds[1:])
        db.commit()
        total += len(moved)
        if len(ids) < JOB_BATCH:
            return total


def mark_delivered(db: Session, *, order_ids: list[int], at: datetime, note: str = "") -> int:
    """Record that the parcels of shipped orders were signed for at ``at`` (the carrier's
    time), which restarts their confirmation countdown from then. Only the first report
    counts (a replayed or repeated 签收 changes nothing); orders no longer shipped are left
    alone. Joins the caller's transaction (logistics calls it from its push); returns how
    many orders it marked."""
    if not order_ids:
        return 0
    marked = list(
        db.scalars(
            update(Order)
            .where(
                Order.id.in_(set(order_ids)),
                Order.status == S.SHIPPED,
                Order.delivered_at.is_(None),
            )
            .values(delivered_at=at)
            .returning(Order.id)
        )
    )
    db.add_all(
        OrderEvent(order_id=oid, actor_kind="system", action="delivered", note=note[:200] or None)
        for oid in marked
    )
    return len(marked)


# --------------------------------------------------------------------------- content (live)


def orders_by_ids(db: Session, *, order_ids: list[int]) -> dict[int, Order]:
    """Orders by id in one query, no permission check (internal use: live flash sales).
    Joins the caller's transaction (read only)."""
    if not order_ids:
        return {}
    return {o.id: o for o in db.scalars(select(Order).where(Order.id.in_(set(order_ids))))}


# The buyers of the bound ``order_ids`` as a SELECT another domain puts inside its own
# statement built once (``user_id IN (...)``), so asking about the buyers costs it no
# statement of its own.
BUYERS_OF_BOUND = select(_ORDERS.c.buyer_id).where(
    _ORDERS.c.id.in_(bindparam("order_ids", expanding=True))
)


def subsidy_returned(db: Session, *, order_id: int, refund_fen: int) -> int:
    """The part of the order's platform subsidy that a refund of ``refund_fen`` (already
    counted into ``refunded_fen``) gives back to the platform: the subsidy in proportion to
    what was refunded, in whole fen, cumulative so that a full refund gives back exactly
    all of it. Reads the order (from the session when loaded). 0 for an unknown order."""
    order = db.get(Order, order_id)
    if order is None or order.subsidy_fen <= 0 or order.paid_fen <= 0:
        return 0
    after = min(order.refunded_fen, order.paid_fen)
    before = max(0, after - refund_fen)
    return (
        order.subsidy_fen * after // order.paid_fen - order.subsidy_fen * before // order.paid_fen
    )


PaidLine = lifecycle.PaidLine


def lines_of(db: Session, change: lifecycle.Change) -> list[PaidLine]:
    """The lines of a change's orders (``paid_lines``), those the change carries when its
    announcer had them at hand: then no read. Joins the caller's transaction."""
    if change.lines is not None:
        return list(change.lines)
    return paid_lines(db, order_ids=change.order_ids)


def paid_lines(db: Session, *, order_ids: Iterable[int]) -> list[PaidLine]:
    """The lines of these orders with their order's number, shop, paid amount and time and
    buyer, in ONE query however many orders (the ledger, when orders are paid; the
    affiliates, when they are created). Joins the caller's
    transaction (read only)."""
    ids = set(order_ids)
    if not ids:
        return []
    return [PaidLine(*row) for row in db.execute(_PAID_LINES, {"ids": list(ids)})]


_PAID_LINES = states.lines_of_orders()


def orders_to_join(name: str = "orders_joined") -> Any:
    """The orders' columns another domain may join to its own rows in one query (``id``,
    ``status``, ``channel``, ``paid_at``, ``shipped_at``, ``delivered_at``,
    ``completed_at``): the affiliates' sample funnel. A selectable, never the model."""
    return select(
        Order.id,
        Order.status,
        Order.channel,
        Order.paid_at,
        Order.shipped_at,
        Order.delivered_at,
        Order.completed_at,
    ).subquery(name)


def channel_orders(db: Session, *, channel: str, ref_id: int) -> list[Order]:
    """Orders attributed to one channel object (a live room, a video), oldest first, no
    permission check (internal use: content reports). Joins the caller's transaction."""
    return list(
        db.scalars(
            select(Order)
            .where(Order.channel == channel, Order.channel_ref_id == ref_id)
            .order_by(Order.id)
        )
    )


# --------------------------------------------------------------------------- merchants


@dataclass(frozen=True)
class ShopSummary:
    """A shop's trading figures for its console overview (business days, Asia/Shanghai).

    GMV (成交额) is what buyers paid for orders paid in the window, refunds NOT subtracted;
    refunds are the amounts refunded in the same window, shown beside it.
    """

    today_orders: int  # orders paid today
    today_gmv_fen: int
    week_orders: int  # orders paid in the last 7 days, today included
    week_gmv_fen: int
    to_ship: int  # paid, not yet shipped
    today_refunded_fen: int
    week_refunded_fen: int


def shop_summary(db: Session, *, shop_id: int, today: date) -> ShopSummary:
    """Paid orders and GMV of business day ``today`` and of the 7 days ending with it, the
    orders to ship and the refunds of the same windows. Two aggregate queries, however many
    orders. No permission check (the console checks the shop). Joins the caller's
    transaction (read only)."""
    day_start = datetime.combine(today, time(), clock.BUSINESS_TZ)
    end = day_start + timedelta(days=1)
    week_start = day_start - timedelta(days=6)
    paid_in_week = (Order.paid_at >= week_start) & (Order.paid_at < end)
    paid_today = (Order.paid_at >= day_start) & (Order.paid_at < end)

    def total(cond: ColumnElement[bool], value: Any) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((cond, value), else_=0)), 0)

    one = literal(1)
    row = db.execute(
        select(
            total(paid_today, one),
            total(paid_today, Order.paid_fen),
            total(paid_in_week, one),
            total(paid_in_week, Order.paid_fen),
            total(Order.status == S.PAID, one),
        ).where(Order.shop_id == shop_id, or_(paid_in_week, Order.status == S.PAID))
    ).one()
    refunds = db.execute(
        select(
            total(AppliedRefund.at >= day_start, AppliedRefund.amount_fen),
            func.coalesce(func.sum(AppliedRefund.amount_fen), 0),
        )
        .join(Order, Order.id == AppliedRefund.order_id)
        .where(
            Order.shop_id == shop_id,
            AppliedRefund.at >= week_start,
            AppliedRefund.at < end,
        )
    ).one()
    return ShopSummary(
        today_orders=int(row[0]),
        today_gmv_fen=int(row[1]),
        week_orders=int(row[2]),
        week_gmv_fen=int(row[3]),
        to_ship=int(row[4]),
        today_refunded_fen=int(refunds[0]),
        week_refunded_fen=int(refunds[1]),
    )


# --------------------------------------------------------------------------- merchant health


@dataclass(frozen=True)
class OrderTimes:
    """What merchant health reads of an order: when it was paid, shipped and completed."""

    shop_id: int
    order_no: str
    paid_at: datetime | None
    shipped_at: datetime | None
    completed_at: datetime | None


def order_times(
    db: Session, *, since: datetime, shop_ids: list[int] | None = None
) -> list[OrderTimes]:
    """Orders paid or completed since ``since`` (every shop, or these), by payment time.
    One query. Joins the caller's transaction (read only)."""
    query = (
        select(Order.shop_id, Order.order_no, Order.paid_at, Order.shipped_at, Order.completed_at)
        .where(or_(Order.paid_at >= since, Order.completed_at >= since))
        .order_by(Order.paid_at, Order.id)
    )
    if shop_ids is not None:
        query = query.where(Order.shop_id.in_(shop_ids))
    return [OrderTimes(*row) for row in db.execute(query)]
