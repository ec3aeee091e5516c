"""A flash-sale batch as ONE PostgreSQL statement (the writers' optimistic path).

``flash.purchase_batch_in_tx`` writes a batch with one statement per table and step: the
buyers' default addresses, their per-buyer counts, the SKU, the order numbers' check, the
orders, their lines, events and ``flash_sale_orders`` rows, the units. Measured on
PostgreSQL, most of a batch's time was not the database but the client around those seven
statements: SQLAlchemy's ORM execution, rows built and sent as JSON, rows read back
and that Python is what a crowd of buyers waits for, since it shares the GIL with the
process's HTTP answers. ``bench/flash_batch.py`` measures a batch both ways.

Here the whole batch is one statement of data-modifying ``WITH`` clauses: the client sends
(buyer, quantity, order number) triples as one ``jsonb`` parameter and reads back one row
per buyer. The database finds the default addresses, counts each buyer against the limit
(the same conditional upsert, in buyer order), writes the orders with the address
snapshot, their lines, "created" events and ``flash_sale_orders`` rows, and LAST takes
the units from the sale row (its ``UPDATE`` reads a MATERIALIZED count of what the four
inserts returned, so it runs after them): the hot row is locked from the end of the
statement (where only the inserted rows' foreign-key checks remain) to the commit, and the
writers' batches overlap as before. A batch in which nobody was counted (all at their
limit or without an address) does not touch the sale row at all.

When the units are not all there (selling out in this batch, the sale stopped or ended),
the SKU, its product or its shop is no longer for sale, or an order number was taken
(``ON CONFLICT DO NOTHING``: 10 random digits a day, so almost never), it raises
``flash.SaleMoved``: the caller rolls back and runs the batch again through
``purchase_batch_in_tx`` in the locked order, which hands out what is left one buyer at a
time and gives the per-table path's refusals.

The orders are the same rows ``orders.checkout`` writes (a test compares every column of
an order made here with one made by the general path, so a column added there and not here
fails it). PostgreSQL only; SQLite keeps the per-table statements (no network, one writer).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian import settings as settings_module
from xiaodian.catalog.service import ProductStatus
from xiaodian.content.live.models import FlashOrderState, SaleStatus
from xiaodian.errors import DomainError
from xiaodian.orders.service import OrderStatus

if TYPE_CHECKING:
    from xiaodian.actor import Actor
    from xiaodian.content.live.flash import Purchased, SaleInfo

# psycopg's named parameters; the statement text never changes, so psycopg prepares it on
# the server after a few batches (no parsing or planning per batch).
BATCH_SQL = """
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
counted AS (
    INSERT INTO flash_sale_buyers AS b (sale_id, buyer_id, bought)
    SELECT %(sale_id)s, req.buyer_id, req.quantity
    FROM req JOIN addr ON addr.user_id = req.buyer_id
    WHERE req.quantity <= %(limit)s
    ORDER BY req.buyer_id
    ON CONFLICT (sale_id, buyer_id) DO UPDATE SET bought = b.bought + excluded.bought
    WHERE b.bought + excluded.bought <= %(limit)s
    RETURNING b.buyer_id
),
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
        0, false, addr.snapshot, '', 'live', %(room_id)s, NULL,
        %(deadline)s, %(now)s
    FROM req
        JOIN counted ON counted.buyer_id = req.buyer_id
        JOIN addr ON addr.user_id = req.buyer_id
        CROSS JOIN item
    ON CONFLICT (order_no) DO NOTHING
    RETURNING id, order_no, buyer_id, total_fen
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
),
new_flash AS (
    INSERT INTO flash_sale_orders (
        sale_id, room_id, order_id, order_no, buyer_id, quantity, amount_fen, state,
        created_at
    )
    SELECT %(sale_id)s, %(room_id)s, o.id, o.order_no, o.buyer_id, req.quantity,
        o.total_fen, %(live)s, %(now)s
    FROM new_orders AS o JOIN req ON req.order_no = o.order_no
    RETURNING quantity
),
written AS MATERIALIZED (  -- not inlined: the UPDATE below waits for all four inserts
    SELECT coalesce((SELECT sum(quantity) FROM new_flash), 0) AS units,
        (SELECT count(*) FROM new_lines) + (SELECT count(*) FROM new_events) AS rows
),
take AS (
    UPDATE flash_sales AS f
    SET remaining = f.remaining - written.units, sold = f.sold + written.units
    FROM written
    WHERE f.id = %(sale_id)s AND f.status = %(running)s AND f.ends_at > %(now)s
        AND f.remaining >= written.units AND written.units > 0
    RETURNING f.remaining
)
SELECT req.n, addr.user_id IS NOT NULL, counted.buyer_id IS NOT NULL, o.order_no,
    o.total_fen, (SELECT take.remaining FROM take)
FROM req
    LEFT JOIN addr ON addr.user_id = req.buyer_id
    LEFT JOIN counted ON counted.buyer_id = req.buyer_id
    LEFT JOIN new_orders AS o ON o.order_no = req.order_no
"""


def _order_numbers(count: int) -> list[str]:
    """Business date (Asia/Shanghai) + 10 random digits, as ``orders.checkout`` makes
    them; distinct within the batch, unchecked against the table (the statement's
    ``ON CONFLICT DO NOTHING`` finds a number already taken)."""
    prefix = clock.today().strftime("%Y%m%d")
    numbers: set[str] = set()
    while len(numbers) < count:
        numbers.add(f"{prefix}{secrets.randbelow(10**10):010d}")
    return list(numbers)


def purchase(
    db: Session,
    info: SaleInfo,
    buyers: list[tuple[Actor, int]],
    refused: list[DomainError | None],
    *,
    limit_reached: Callable[[], DomainError],
    no_address: Callable[[], DomainError],
) -> list[Purchased | DomainError]:
    """The batch's purchases in one statement (see the module's text). ``refused`` holds,
    per buyer, an answer already given (quantity over the limit) or None. Raises
    ``flash.SaleMoved`` when the batch must run again in the locked order; any other
    exception means: roll back. ``limit_reached`` and ``no_address`` make the refusals
    (one exception per buyer: each is raised in its own request)."""
    from xiaodian.content.live.flash import Purchased, SaleMoved

    asks = [i for i, answer in enumerate(refused) if answer is None]
    out: list[Purchased | DomainError | None] = list(refused)
    if not asks:
        return [answer for answer in out if answer is not None]
    now = clock.now()
    numbers = _order_numbers(len(asks))
    rows = json.dumps(
        [
            {"n": i, "buyer_id": buyers[i][0].user_id, "quantity": buyers[i][1], "order_no": no}
            for i, no in zip(asks, numbers, strict=True)
        ],
        separators=(",", ":"),
    )
    timeout = settings_module.current().order_payment_timeout_minutes
    params: dict[str, Any] = {
        "rows": rows,
        "sale_id": info.id,
        "room_id": info.room_id,
        "sku_id": info.sku_id,
        "price": info.price_fen,
        "limit": info.per_buyer_limit,
        "now": now,
        "deadline": now + timedelta(minutes=timeout),
        "pending": OrderStatus.PENDING_PAYMENT.value,
        "live": FlashOrderState.LIVE.value,
        "running": SaleStatus.RUNNING.value,
        "on_sale": ProductStatus.ON_SALE.value,
    }
    result = db.connection().exec_driver_sql(BATCH_SQL, params).all()
    bought = [row for row in result if row[3] is not None]
    counted = sum(1 for row in result if row[2])
    after = result[0][5] if result else None
    if len(bought) != counted or (counted and after is None):
        raise SaleMoved(info.id)  # units short, sale not running, or a number taken
    left = 0  # the units left after each purchase, in the buyers' order
    if after is not None:
        left = int(after) + sum(buyers[row[0]][1] for row in bought)
    for n, has_address, _counted, order_no, total, _after in sorted(result):
        if order_no is None:
            out[n] = limit_reached() if has_address else no_address()
            continue
        quantity = buyers[n][1]
        left -= quantity
        out[n] = Purchased(
            sale_id=info.id,
            room_id=info.room_id,
            order_no=order_no,
            quantity=quantity,
            amount_fen=int(total),
            remaining=left,
        )
    return [answer for answer in out if answer is not None]
