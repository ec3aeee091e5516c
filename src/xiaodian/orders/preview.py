"""Checkout's preview: what checkout would create for these lines, at the sellability
policy's prices, with the policy's refusal named per line (the checkout page shows it
before the buyer places the orders). Reads only."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from xiaodian.actor import Actor
from xiaodian.catalog.sellability import PurchaseInfo, SkuInfo
from xiaodian.errors import Conflict, NotFound, _
from xiaodian.orders.checkout import check_limits, merge_lines, offers_for


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

    @property
    def amount_fen(self) -> int:
        return self.offer.price_fen * self.quantity


@dataclass
class PreviewGroup:
    shop_id: int
    shop_name: str
    lines: list[PreviewLine] = field(default_factory=list)

    @property
    def items_fen(self) -> int:
        return sum(line.amount_fen for line in self.lines)


@dataclass
class CheckoutPreview:
    groups: list[PreviewGroup]
    problems: list[str]  # msgids, one per line with a problem
    limit_error: Conflict | None = None

    @property
    def ok(self) -> bool:
        return not self.problems and self.limit_error is None

    @property
    def total_fen(self) -> int:
        return sum(group.items_fen for group in self.groups)

    @property
    def lines(self) -> list[tuple[int, int]]:
        return [(ln.info.sku_id, ln.quantity) for g in self.groups for ln in g.lines]


def preview(db: Session, actor: Actor, *, lines: list[tuple[int, int]]) -> CheckoutPreview:
    """What checkout would create, at the policy's prices, with any problem named per
    line (off sale, not enough stock) and the purchase limit's refusal, if any."""
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
    return CheckoutPreview(groups=list(groups.values()), problems=problems, limit_error=limit_error)
