"""Many buyers' orders of one SKU as ONE PostgreSQL statement (a live flash sale's batch).

``checkout.create_orders_for_buyers`` writes a batch with one statement per table. Measured
on PostgreSQL (``bench/flash_batch.py``), most of a flash-sale writer's batch was not the
database but the client around those statements (SQLAlchemy's execution, rows built and
read back), and that Python shares the GIL with the process's HTTP answers. Here the
orders part of a batch is data-modifying ``WITH`` clauses of one statement, and the caller
(the domain selling, which orders knows nothing of) adds its own clauses to the same
statement: which buyers may have an order, and its own rows made from the new orders.

The statement, in order (the caller's parts marked):

- ``req``: the buyers, one row each (``n``, ``buyer_id``, ``quantity``, ``order_no``),
  sent as one ``jsonb`` parameter (one statement text whatever the batch size, so psycopg
  prepares it on the server after a few batches);
- ``addr``: each buyer's default address snapshot (``user_id``, ``snapshot``);
- the caller's ``admit`` clauses, the last of them named ``admitted`` (``buyer_id``): the
  buyers who get an order (a flash sale counts them against its per-buyer limit here);
- ``item``: the SKU, its product and its shop, nothing when one is not for sale;
- ``new_orders`` (``id``, ``order_no``, ``buyer_id``, ``shop_id``, ``total_fen``),
  ``new_lines`` (``order_id``), ``new_events`` (``order_id``): the orders of the admitted
  buyers with an address, at ``unit_price_fen``, their lines and "created" events; an order
  number already taken (10 random digits a day, so almost never) makes no order
  (``ON CONFLICT DO NOTHING``);
- the caller's ``after`` clauses, which may read everything above (its own rows of the new
  orders; to run after the orders' inserts, a clause reads a MATERIALIZED count of
  ``new_lines`` and ``new_events``);
- one result row per buyer, with the caller's ``columns``.

The caller's clauses use its own named parameters (``%(name)s``, psycopg's style) and may
read ``%(now)s``, the orders' creation time. The orders are the rows ``checkout`` writes (a
test compares every column of an order made here with one made by the per-table path).
"created" is announced for the new orders, in the caller's transaction. PostgreSQL only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian import settings as settings_module
from xiaodian.catalog.service import ProductStatus
from xiaodian.orders import checkout, lifecycle
from xiaodian.orders.checkout import Channel, CreatedOrder
from xiaodian.orders.models import OrderStatus

_HEAD = """
WITH req AS MATERIALIZED (
    SELECT r.n, r.buyer_id, r.quantity, r.order_no
    FROM jsonb_to_recordset(CAST(%(rows)s AS jsonb))
        AS r(n integer, buyer_id integer, quantity integer, order_no varchar)
),
addr AS MATERIALIZED (
    SELECT DISTINCT ON (a.user_id) a.user_id,
        json_build_object(  -- through jsonb: the same text as the per-table path's
            'name', a.name, 'phone', a.phone, 'province', a.province, 'city', a.city,
            'district', a.district, 'detail', a.detail
        )::jsonb AS snapshot
    FROM addresses AS a
    WHERE a.user_id IN (SELECT req.buyer_id FROM req)
    ORDER BY a.user_id, a.is_default DESC, a.id DESC
),
"""

_ORDERS = """
item AS MATERIALIZED (  -- nothing when the SKU, its product or its shop is not for sale
    SELECT p.id AS product_id, p.shop_id, p.title, coalesce(s.spec_key, '') AS spec_text,
        p.cover_path
    FROM skus AS s
        JOIN products AS p ON p.id = s.product_id
        JOIN shops AS sh ON sh.id = p.shop_id
    WHERE s.id = %(sku_id)s AND s.is_active AND p.status = %(on_sale)s AND sh.is_active
),
new_orders AS (
    INSERT INTO orders (
        order_no, buyer_id, shop_id, status, items_fen, shipping_fen, total_fen, paid_fen,
        refunded_fen, aftersale_open, address, note, channel, channel_ref_id, promoter_id,
        pay_deadline, created_at
    )
    SELECT req.order_no, req.buyer_id, item.shop_id, %(pending)s,
        %(price)s * req.quantity, 0, %(price)s * req.quantity, 0,
        0, false, addr.snapshot, '', %(channel)s, %(channel_ref_id)s, %(promoter_id)s,
        %(deadline)s, %(now)s
    FROM req
        JOIN admitted ON admitted.buyer_id = req.buyer_id
        JOIN addr ON addr.user_id = req.buyer_id
        CROSS JOIN item
    ON CONFLICT (order_no) DO NOTHING
    RETURNING id, order_no, buyer_id, shop_id, total_fen
),
new_lines AS (
    INSERT INTO order_lines (
        order_id, product_id, sku_id, title, spec_text, thumb_path, unit_price_fen,
        quantity, amount_fen
    )
    SELECT o.id, item.product_id, %(sku_id)s, item.title, item.spec_text, item.cover_path,
        %(price)s, req.quantity, o.total_fen
    FROM new_orders AS o JOIN req ON req.order_no = o.order_no CROSS JOIN item
    RETURNING order_id
),
new_events AS (
    INSERT INTO order_events (
        order_id, actor_id, actor_kind, action, from_status, to_status, note, at
    )
    SELECT o.id, o.buyer_id, 'buyer', 'created', NULL, %(pending)s, NULL, %(now)s
    FROM new_orders AS o
    RETURNING order_id
)"""

_RESULT = """
SELECT req.n, addr.user_id IS NOT NULL, admitted.buyer_id IS NOT NULL,
    o.id, o.order_no, o.shop_id, o.total_fen{columns}
FROM req
    LEFT JOIN addr ON addr.user_id = req.buyer_id
    LEFT JOIN admitted ON admitted.buyer_id = req.buyer_id
    LEFT JOIN new_orders AS o ON o.order_no = req.order_no
"""

_OWN_PARAMS = frozenset(
    {
        "rows",
        "sku_id",
        "price",
        "now",
        "deadline",
        "pending",
        "on_sale",
        "channel",
        "channel_ref_id",
        "promoter_id",
    }
)


@dataclass(frozen=True)
class BatchPart:
    """The caller's clauses in the batch statement (see the module's text): ``admit``
    ends with a clause named ``admitted`` (``buyer_id``); ``after`` are clauses after the
    orders' (empty for none); ``columns`` are extra result columns (each starting with a
    comma), ``params`` the parameters they use."""

    admit: str
    after: str = ""
    columns: str = ""
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchRow:
    """One buyer's answer: ``n`` is the buyer's index in the call; ``order`` None when no
    order was written (not admitted, no address, the SKU not for sale, a number taken);
    ``extra`` the caller's ``columns``."""

    n: int
    has_address: bool
    admitted: bool
    order: CreatedOrder | None
    extra: tuple[Any, ...]


def statement(part: BatchPart) -> str:
    """The statement's text for ``part`` (the same text for every batch of one caller)."""
    after = f",\n{part.after.strip().rstrip(',')}" if part.after.strip() else ""
    return (
        _HEAD
        + part.admit.strip().rstrip(",")
        + ",\n"
        + _ORDERS
        + after
        + _RESULT.format(columns=part.columns)
    )


def create_orders_in_one_statement(
    db: Session,
    buyers: list[tuple[int, int]],
    *,
    sku_id: int,
    unit_price_fen: int,
    channel: Channel,
    part: BatchPart,
) -> list[BatchRow]:
    """One order of ``quantity`` of one SKU at ``unit_price_fen`` per (buyer_id, quantity)
    of DISTINCT buyers, at each buyer's default address, with the caller's ``part`` in the
    same statement (PostgreSQL only; the module's text). Stock is not reserved (the caller
    holds the units: a flash sale's reservation). Returns one row per buyer, in ``buyers``'
    order. Announces "created" for the new orders. Does NOT commit (joins the caller's
    transaction; on an error the caller rolls back)."""
    if not buyers:
        return []
    clash = _OWN_PARAMS & part.params.keys()
    if clash:
        raise ValueError(f"parameters already the orders' own: {sorted(clash)}")
    now = clock.now()
    numbers = checkout.order_numbers(len(buyers))
    rows = json.dumps(
        [
            {"n": n, "buyer_id": buyer_id, "quantity": quantity, "order_no": number}
            for n, ((buyer_id, quantity), number) in enumerate(zip(buyers, numbers, strict=True))
        ],
        separators=(",", ":"),
    )
    timeout = settings_module.current().order_payment_timeout_minutes
    params: dict[str, Any] = {
        **part.params,
        "rows": rows,
        "sku_id": sku_id,
        "price": unit_price_fen,
        "now": now,
        "deadline": now + timedelta(minutes=timeout),
        "pending": OrderStatus.PENDING_PAYMENT.value,
        "on_sale": ProductStatus.ON_SALE.value,
        "channel": channel.type,
        "channel_ref_id": channel.ref_id,
        "promoter_id": channel.promoter_id,
    }
    result = db.connection().exec_driver_sql(statement(part), params).all()
    out: list[BatchRow] = []
    for n, has_address, admitted, order_id, order_no, shop_id, total, *extra in sorted(result):
        order = None
        if order_id is not None:
            order = CreatedOrder(
                id=int(order_id),
                order_no=str(order_no),
                buyer_id=buyers[n][0],
                shop_id=int(shop_id),
                total_fen=int(total),
            )
        out.append(BatchRow(int(n), bool(has_address), bool(admitted), order, tuple(extra)))
    created = tuple(row.order.id for row in out if row.order is not None)
    lifecycle.announce(db, lifecycle.Change("created", created, now, action="created"))
    return out
