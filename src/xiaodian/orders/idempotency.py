"""A checkout's ``Idempotency-Key``: the same key from the same buyer gives back the orders
of the first request, and the key with a different body is refused. The first request's
orders are recorded last in its transaction (``record``), so a concurrent request with the
same key that committed first makes that INSERT fail, and its orders are given back."""

from __future__ import annotations

import hashlib
import json
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian.errors import Conflict, InvalidInput, _
from xiaodian.orders.models import CheckoutRequest, Order

_REQUESTS = cast(Table, CheckoutRequest.__table__)


def body_hash(
    wanted: dict[int, int],
    address_id: int,
    note: str,
    channel: tuple[str, int | None],
    from_cart: bool,
    coupons: list[int] | None = None,
) -> str:
    """What the request asked for (``channel``: its type and reference), as one digest."""
    body: dict[str, Any] = {
        "lines": sorted(wanted.items()),
        "address_id": address_id,
        "note": note,
        "channel": list(channel),
        "from_cart": from_cart,
    }
    if coupons:
        body["coupons"] = sorted(coupons)
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def check_key(key: str | None) -> str | None:
    """The key as used (None when not given); 8 to 100 printable characters."""
    if key is None or key == "":
        return None
    key = key.strip()
    if not 8 <= len(key) <= 100 or not key.isprintable():
        raise InvalidInput(
            _("The Idempotency-Key must be 8 to 100 printable characters."), code="bad_key"
        )
    return key


# On the table: the request's two columns, no ORM execution (asked at every checkout).
_REQUEST = select(_REQUESTS.c.body_hash, _REQUESTS.c.order_ids).where(
    _REQUESTS.c.buyer_id == bindparam("buyer"), _REQUESTS.c.key == bindparam("b_key")
)


_INSERT_REQUEST = insert(_REQUESTS)


def orders_of(db: Session, buyer_id: int, key: str, digest: str) -> list[Order] | None:
    """The orders of the buyer's request with this key (None when there was none); the key
    with a different body is a Conflict. Joins the caller's transaction."""
    request = db.execute(_REQUEST, {"buyer": buyer_id, "b_key": key}).first()
    if request is None:
        return None
    if request.body_hash != digest:
        raise Conflict(
            _("This Idempotency-Key was already used for a different checkout."),
            code="idempotency_key_reused",
        )
    found = {o.id: o for o in db.scalars(select(Order).where(Order.id.in_(request.order_ids)))}
    return [found[i] for i in request.order_ids if i in found]


def record(db: Session, buyer_id: int, key: str, digest: str, order_ids: list[int]) -> None:
    """The request's orders under its key; an IntegrityError when the key was recorded by a
    concurrent request first. Joins the caller's transaction."""
    db.execute(
        _INSERT_REQUEST,
        {
            "buyer_id": buyer_id,
            "key": key,
            "body_hash": digest,
            "order_ids": order_ids,
            "created_at": clock.now(),
        },
    )
