"""Checkout's preview: what checkout would create for these lines, at the sellability
policy's prices, with the policy's refusal named per line (the checkout page shows it
before the buyer places the orders), and each shop's shipping fee to the chosen address
(``orders/shipping.py``). Reads only."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from xiaodian.actor import Actor
from xiaodian.catalog.sellability import PurchaseInfo, SkuInfo
from xiaodian.errors import Conflict, DomainError, NotFound, _
from xiaodian.orders import adjust, shipping
from xiaodian.orders.checkout import (
    adjust_lines,
    merge_lines,
    offers_for,
)
from xiaodian.orders.limits import check_limits


@dataclass
class PreviewLine:
    offer: PurchaseInfo
    quantity: int
    problem: str | None = None

    @property
    def info(self) -> SkuInfo:
        return self.offer.sku

    @property
    def price_fen(self) -> int:
        return self.offer.price_fen

    discount_fen: int = 0  # what the chosen coupons take off this line

    @property
    def amount_fen(self) -> int:
        return self.offer.price_fen * self.quantity

    @property
    def pay_fen(self) -> int:
        return self.amount_fen - self.discount_fen


@dataclass
class PreviewGroup:
    shop_id: int
    shop_name: str
    lines: list[PreviewLine] = field(default_factory=list)
    shipping_fen: int = 0  # to the chosen address (0 without one: not yet known)
    shipping_problem: DomainError | None = None  # the shop does not deliver there

    @property
    def items_fen(self) -> int:
        return sum(line.pay_fen for line in self.lines)

    @property
    def pay_fen(self) -> int:
        return self.items_fen + self.shipping_fen

    @property
    def discount_fen(self) -> int:
        return sum(line.discount_fen for line in self.lines)


@dataclass
class CheckoutPreview:
    groups: list[PreviewGroup]
    problems: list[str]  # msgids, one per line with a problem
    limit_error: Conflict | None = None
    discounts: adjust.Quoted = field(default_factory=adjust.Quoted)

    @property
    def ok(self) -> bool:
        return not self.problems and self.limit_error is None and not self.shipping_problems

    @property
    def shipping_problems(self) -> list[DomainError]:
        return [g.shipping_problem for g in self.groups if g.shipping_problem is not None]

    @property
    def shipping_fen(self) -> int:
        return sum(group.shipping_fen for group in self.groups)

    @property
    def total_fen(self) -> int:
        return sum(group.pay_fen for group in self.groups)

    @property
    def discount_fen(self) -> int:
        return sum(group.discount_fen for group in self.groups)

    @property
    def lines(self) -> list[tuple[int, int]]:
        return [(ln.info.sku_id, ln.quantity) for g in self.groups for ln in g.lines]


def preview(
    db: Session,
    actor: Actor,
    *,
    lines: list[tuple[int, int]],
    coupons: list[int] | None = None,
    address: dict[str, str] | None = None,
) -> CheckoutPreview:
    """What checkout would create, at the policy's prices, with any problem named per
    line (off sale, not enough stock) and the purchase limit's refusal, if any; with what
    the ``coupons`` (None: every coupon the buyer could choose) take off, which apply and
    which do not and why (``orders/adjust.py``); and with ``address`` (the snapshot of the
    chosen one), each shop's shipping fee or its refusal to deliver there."""
    buyer_id = actor.require_user()
    wanted = merge_lines(lines)
    offers = offers_for(db, list(wanted), buyer_id)
    problems: list[str] = []
    limit_error: Conflict | None = None
    groups: dict[int, PreviewGroup] = {}
    for sku_id, quantity in wanted.items():
        offer = offers.get(sku_id)
        if offer is None:
            raise NotFound(_("This item does not exist."), code="sku_not_found")
        refusal = offer.unavailable or offer.stock_refusal(quantity)
        problem = None
        if refusal is not None:
            problem = _("No longer on sale") if refusal.off_sale else _("Not enough stock")
        info = offer.sku
        group = groups.setdefault(info.shop_id, PreviewGroup(info.shop_id, info.shop_name))
        group.lines.append(PreviewLine(offer=offer, quantity=quantity, problem=problem))
        if problem:
            problems.append(problem)
    try:
        check_limits(db, buyer_id=buyer_id, wanted=wanted, offers=offers)
    except Conflict as exc:
        limit_error = exc
    result = CheckoutPreview(
        groups=list(groups.values()), problems=problems, limit_error=limit_error
    )
    chosen = adjust.available(db, buyer_id) if coupons is None else adjust.check_chosen(coupons)
    sellable = {
        ln.info.sku_id: ln.quantity for g in result.groups for ln in g.lines if not ln.problem
    }
    if chosen and sellable:
        prices: dict[int, int | None] = dict.fromkeys(sellable)
        result.discounts = adjust.quote(
            db, buyer_id, adjust_lines(sellable, prices, offers), chosen, strict=False
        )
        for group in result.groups:
            for line in group.lines:
                line.discount_fen = result.discounts.discount_fen.get(line.info.sku_id, 0)
    if address is not None:
        _quote_shipping(db, result, address)
    return result


def _quote_shipping(db: Session, result: CheckoutPreview, address: dict[str, str]) -> None:
    """Each group's fee for its sellable lines, as checkout will charge it (one call)."""
    groups = [g for g in result.groups if any(not ln.problem for ln in g.lines)]
    offers = {ln.info.sku_id: ln.offer for g in groups for ln in g.lines}
    parcels = shipping.parcels_of(
        [
            (
                address,
                g.shop_id,
                {ln.info.sku_id: ln.quantity for ln in g.lines if not ln.problem},
                {ln.info.sku_id: ln.pay_fen for ln in g.lines if not ln.problem},
            )
            for g in groups
        ],
        offers,
    )
    for group, fee in zip(groups, shipping.quote(db, parcels), strict=True):
        group.shipping_fen = fee.fen
        group.shipping_problem = fee.refusal
