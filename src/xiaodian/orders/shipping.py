"""Shipping fees at checkout: orders asks a registered quoter what each shop-order's parcel
costs to ship, and never imports logistics.

Logistics, above orders in the layers, owns the shops' shipping templates (运费模板) and
registers its quoter here when ``domains.load`` imports it (``shipping.register(...)``), as
campaigns registers its coupons with ``orders/adjust.py``. Checkout and its preview hand
over every shop-order of the cart at once (``Parcel``: the shop, the delivery province as
the address snapshot has it, the lines with their weight, their product's template and
what they cost after discounts); the quoter answers per parcel a fee in fen, or the
refusal of a province the shop does not deliver to.

Guarantees:

- One call for the whole cart, so a quoter can read the templates of all the shops in one
  query: a checkout's statements do not grow with its lines or shops.
- A fee is never negative (clamped here whatever a quoter answers); no quoter registered
  (or a parcel it knows nothing about) is free shipping, as before templates existed.
- ``quote`` writes nothing; checkout raises the first refusal before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from sqlalchemy.orm import Session

from xiaodian.errors import DomainError

if TYPE_CHECKING:
    from xiaodian.catalog.sellability import PurchaseInfo


@dataclass(frozen=True)
class Item:
    """A line as the quoter sees it: ``amount_fen`` is what it costs after discounts."""

    sku_id: int
    product_id: int
    quantity: int
    weight_g: int
    template_id: int | None  # the product's own template; None: the shop's default
    amount_fen: int
    label: str = ""


@dataclass(frozen=True)
class Parcel:
    """One shop-order to ship to ``province`` (the address snapshot's text, as typed)."""

    shop_id: int
    province: str
    items: tuple[Item, ...]

    @property
    def items_fen(self) -> int:
        return sum(item.amount_fen for item in self.items)


@dataclass(frozen=True)
class Fee:
    """What a parcel costs to ship, or why it cannot be shipped (a DomainError, 4xx)."""

    fen: int = 0
    refusal: DomainError | None = None


class Quoter(Protocol):
    def quote(self, db: Session, parcels: list[Parcel]) -> list[Fee]:
        """One ``Fee`` per parcel, in order. Reads only."""
        ...


_quoters: list[Quoter] = []


def register(quoter: Quoter) -> Quoter:
    """Register ``quoter`` (once; the same object twice keeps one). The last registered
    decides; there is one in practice (logistics)."""
    if quoter not in _quoters:
        _quoters.append(quoter)
    return quoter


def quote(db: Session, parcels: list[Parcel]) -> list[Fee]:
    """Each parcel's fee (0 without a quoter), never negative."""
    if not parcels or not _quoters:
        return [Fee() for _parcel in parcels]
    fees = _quoters[-1].quote(db, parcels)
    out = []
    for index in range(len(parcels)):
        fee = fees[index] if index < len(fees) else Fee()
        out.append(Fee(max(0, int(fee.fen)), fee.refusal))
    return out


def parcels_of(
    groups: list[tuple[dict[str, str], int, dict[int, int], dict[int, int]]],
    offers: dict[int, PurchaseInfo],
) -> list[Parcel]:
    """The parcels to quote: per (address, shop, SKU -> quantity, SKU -> amount after
    discounts) one ``Parcel``: what checkout and its preview quote."""
    parcels = []
    for address, shop_id, quantities, amounts in groups:
        items = []
        for sku_id, quantity in quantities.items():
            info = offers[sku_id].sku
            items.append(
                Item(
                    sku_id=sku_id,
                    product_id=info.product_id,
                    quantity=quantity,
                    weight_g=info.weight_g,
                    template_id=info.shipping_template_id,
                    amount_fen=amounts[sku_id],
                    label=info.label,
                )
            )
        parcels.append(Parcel(shop_id, str(address.get("province", "")), tuple(items)))
    return parcels
