"""A flash-sale batch as ONE PostgreSQL statement (the writers' optimistic path).

``flash_purchase.purchase_batch_in_tx`` writes a batch with one statement per table and
step. On PostgreSQL most of a batch's time was the client around those statements, which
shares the GIL with the process's HTTP answers (``bench/flash_batch.py`` measures both).
Here the whole batch is one statement, which the orders domain builds and owns
(``orders.batch``: the buyers' default addresses, the orders, their lines and "created"
events); the flash sale adds its own clauses to it:

- ``admitted``: each buyer counted against the per-buyer limit (a conditional upsert of
  ``flash_sale_buyers``, in buyer order): only the counted get an order;
- ``new_flash``: the ``flash_sale_orders`` rows of the new orders;
- ``take``: LAST, the units taken from the sale row (its ``UPDATE`` reads a MATERIALIZED
  count of what the inserts returned, so it runs after them): the hot row is locked from
  the end of the statement (where only the inserted rows' foreign-key checks remain) to the
  commit, and the writers' batches overlap. A batch in which nobody was counted (all at
  their limit or without an address) does not touch the sale row at all.

When the units are not all there (selling out in this batch, the sale stopped or ended),
the SKU, its product or its shop is no longer for sale, or an order number was taken, it
raises ``flash.SaleMoved``: the caller rolls back and runs the batch again through
``purchase_batch_in_tx`` in the locked order, which hands out what is left one buyer at a
time and gives the per-table path's refusals.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from xiaodian.content.live.flash import Purchased, SaleInfo, SaleMoved
from xiaodian.content.live.models import ORDER_CHANNEL, FlashOrderState, SaleStatus
from xiaodian.errors import DomainError
from xiaodian.orders import batch
from xiaodian.orders.checkout import Channel

if TYPE_CHECKING:
    from xiaodian.actor import Actor

ADMIT = """
admitted AS (
    INSERT INTO flash_sale_buyers AS b (sale_id, buyer_id, bought)
    SELECT %(sale_id)s, req.buyer_id, req.quantity
    FROM req JOIN addr ON addr.user_id = req.buyer_id
    WHERE req.quantity <= %(limit)s
    ORDER BY req.buyer_id
    ON CONFLICT (sale_id, buyer_id) DO UPDATE SET bought = b.bought + excluded.bought
    WHERE b.bought + excluded.bought <= %(limit)s
    RETURNING b.buyer_id
)
"""

AFTER = """
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
written AS MATERIALIZED (  -- not inlined: the UPDATE below waits for all the inserts
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
"""

COLUMNS = ", (SELECT take.remaining FROM take)"


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
    asks = [i for i, answer in enumerate(refused) if answer is None]
    out: list[Purchased | DomainError | None] = list(refused)
    if not asks:
        return [answer for answer in out if answer is not None]
    part = batch.BatchPart(
        admit=ADMIT,
        after=AFTER,
        columns=COLUMNS,
        params={
            "sale_id": info.id,
            "room_id": info.room_id,
            "limit": info.per_buyer_limit,
            "live": FlashOrderState.LIVE.value,
            "running": SaleStatus.RUNNING.value,
        },
    )
    rows = batch.create_orders_in_one_statement(
        db,
        [(int(buyers[i][0].user_id or 0), buyers[i][1]) for i in asks],
        sku_id=info.sku_id,
        unit_price_fen=info.price_fen,
        channel=Channel(type=ORDER_CHANNEL, ref_id=info.room_id),
        part=part,
    )
    bought = [row for row in rows if row.order is not None]
    counted = sum(1 for row in rows if row.admitted)
    after = rows[0].extra[0] if rows else None
    if len(bought) != counted or (counted and after is None):
        raise SaleMoved(info.id)  # units short, sale not running, or a number taken
    left = 0  # the units left after each purchase, in the buyers' order
    if after is not None:
        left = int(after) + sum(buyers[asks[row.n]][1] for row in bought)
    for row in rows:
        n = asks[row.n]
        if row.order is None:
            out[n] = limit_reached() if row.has_address else no_address()
            continue
        quantity = buyers[n][1]
        left -= quantity
        out[n] = Purchased(
            sale_id=info.id,
            room_id=info.room_id,
            order_no=row.order.order_no,
            quantity=quantity,
            amount_fen=row.order.total_fen,
            remaining=left,
        )
    return [answer for answer in out if answer is not None]
