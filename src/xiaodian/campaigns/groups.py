"""Group buying (拼团).

A merchant offers a group price for one SKU: a group of ``size`` (2-10) buyers, ``hours``
to fill (24 by default), at most ``per_buyer_limit`` units each. The first buyer opens a
group by ordering at the group price; others join from the group's page (its share link)
and order; each pays as for any order (``/pay``). The orders are held (``orders.hold``:
not shippable, their income pending) until the group fills.

- Paying takes a place: the orders' ``paid`` listener moves the group's count by ONE
  conditional UPDATE (``status = 'open' AND paid < size AND expires_at > now`` in its
  WHERE), so the last place goes to exactly one payer, whatever the concurrency. The
  payment that fills it succeeds the group, in the same transaction, and releases every
  paid member's order to the merchant.
- A payment that finds the group full, succeeded or expired marks its member late; the
  job (``due``, every minute) refunds it in full at once. When a group's time runs out
  first, the job expires it and refunds every paid member in full; a full refund of an
  unshipped order closes it and its stock comes back (``orders``). The orders of members
  who never paid a group that ended are cancelled by the job (stock released).
- A paid member's order closed by a full refund while the group forms gives its place
  back; joining waits for the leader's payment; the per-buyer limit counts the buyer's
  units in every group of the offer.
- A buyer is in a group at most once (a unique pair); an order never paid (cancelled by
  the payment timeout) frees its member's place for a later order.

Each public function is one transaction; the listeners join the payment's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian.actor import Actor
from xiaodian.campaigns.models import (
    Group,
    GroupMember,
    GroupOffer,
    GroupOfferStatus,
    GroupStatus,
    MemberStatus,
)
from xiaodian.catalog import sellability
from xiaodian.catalog import service as catalog_service
from xiaodian.db import MAX_ID
from xiaodian.errors import Conflict, DomainError, IllegalTransition, InvalidInput, NotFound, _
from xiaodian.orders import addresses, lifecycle
from xiaodian.orders import service as orders_service
from xiaodian.orders.checkout import Channel, PricedLine, create_orders
from xiaodian.payments import service as payments_service

log = logging.getLogger(__name__)

_GROUPS = cast(Table, Group.__table__)
M = MemberStatus


@dataclass(frozen=True)
class OfferInput:
    sku_id: int
    price_fen: int
    size: int
    hours: int = 24
    per_buyer_limit: int = 1


def _whole(value: Any, lo: int, hi: int, message: str, code: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise InvalidInput(message, code=code)
    return value


def create_offer(db: Session, actor: Actor, shop_id: int, data: OfferInput) -> GroupOffer:
    """A group price of one of the shop's SKUs (its staff). Raises InvalidInput (a size of
    1 or 11, a price not below the SKU's, hours or limit out of range, another shop's or an
    unknown SKU), NotFound (not the actor's shop)."""
    user_id = actor.require_shop(shop_id)
    sku_id = _whole(data.sku_id, 1, MAX_ID, _("Choose a SKU of this shop."), "bad_sku")
    sku = sellability.load_skus(db, [sku_id]).get(sku_id)
    if sku is None or sku.shop_id != shop_id:
        raise InvalidInput(_("Choose a SKU of this shop."), code="bad_sku")
    size = _whole(data.size, 2, 10, _("A group has 2 to 10 buyers."), "bad_size")
    hours = _whole(data.hours, 1, 72, _("A group has 1 to 72 hours to fill."), "bad_hours")
    limit = _whole(data.per_buyer_limit, 1, 99, _("Each buyer buys 1 to 99."), "bad_limit")
    price = _whole(
        data.price_fen,
        1,
        max(1, sku.price_fen - 1),
        _("The group price is above zero and below the SKU's price."),
        "bad_price",
    )
    if price >= sku.price_fen:
        raise InvalidInput(
            _("The group price is above zero and below the SKU's price."), code="bad_price"
        )
    offer = GroupOffer(
        shop_id=shop_id,
        product_id=sku.product_id,
        sku_id=sku.sku_id,
        price_fen=price,
        size=size,
        hours=hours,
        per_buyer_limit=limit,
        status=GroupOfferStatus.ACTIVE,
        created_by=user_id,
        created_at=clock.now(),
    )
    db.add(offer)
    db.commit()
    return offer


def stop_offer(db: Session, actor: Actor, offer_id: int) -> GroupOffer:
    """No new groups of the offer (its staff); groups open keep their time."""
    offer = _offer(db, offer_id)
    actor.require_shop(offer.shop_id)
    offer.status = GroupOfferStatus.STOPPED
    db.commit()
    return offer


def _offer(db: Session, offer_id: int) -> GroupOffer:
    offer = db.get(GroupOffer, offer_id) if 0 < offer_id <= MAX_ID else None
    if offer is None:
        raise NotFound(_("Group buy not found."), code="group_offer_not_found")
    return offer


@dataclass(frozen=True)
class Joined:
    group_id: int
    order_no: str

    @property
    def pay_url(self) -> str:
        return f"/pay?orders={self.order_no}"


def open_group(
    db: Session, actor: Actor, offer_id: int, *, quantity: int = 1, address_id: int | None = None
) -> Joined:
    """Open a group of the offer: its first order, at the group price, held. Raises
    NotFound, IllegalTransition (the offer stopped), InvalidInput (quantity), Conflict
    (no address; the sellability policy's refusals)."""
    buyer_id = actor.require_user()
    offer = _offer(db, offer_id)
    if offer.status != GroupOfferStatus.ACTIVE:
        raise IllegalTransition(_("This group buy has ended."), code="group_offer_stopped")
    now = clock.now()
    group = Group(
        offer_id=offer.id,
        leader_id=buyer_id,
        size=offer.size,
        paid=0,
        status=GroupStatus.OPEN,
        expires_at=now + timedelta(hours=offer.hours),
        created_at=now,
    )
    db.add(group)
    db.flush()
    return _order(db, actor, offer, group, quantity, address_id)


def join_group(
    db: Session, actor: Actor, group_id: int, *, quantity: int = 1, address_id: int | None = None
) -> Joined:
    """Join an open group (from its share link): an order at the group price, held.
    Raises NotFound, IllegalTransition (full, succeeded or expired), Conflict (already in
    it; no address; the policy's refusals)."""
    actor.require_user()
    group = db.get(Group, group_id) if 0 < group_id <= MAX_ID else None
    if group is None:
        raise NotFound(_("Group not found."), code="group_not_found")
    if (
        group.status != GroupStatus.OPEN
        or clock.as_utc(group.expires_at) <= clock.now()
        or group.paid >= group.size
    ):
        raise IllegalTransition(_("This group is no longer open."), code="group_closed")
    if group.paid == 0:  # its leader has not paid (a group opens with its first payment)
        raise IllegalTransition(
            _("This group opens when its first buyer has paid."), code="group_not_open_yet"
        )
    return _order(db, actor, _offer(db, group.offer_id), group, quantity, address_id)


def _order(
    db: Session,
    actor: Actor,
    offer: GroupOffer,
    group: Group,
    quantity: int,
    address_id: int | None,
) -> Joined:
    buyer_id = actor.require_user()
    quantity = _whole(
        quantity,
        1,
        offer.per_buyer_limit,
        _("You can buy 1 to %(n)s in a group.") % {"n": offer.per_buyer_limit},
        "bad_quantity",
    )
    if db.get_bind().dialect.name == "postgresql":  # one buyer's orders of an offer in turn
        db.execute(select(func.pg_advisory_xact_lock(offer.id, buyer_id)))
    bought = (
        db.scalar(
            select(func.coalesce(func.sum(GroupMember.quantity), 0)).where(
                GroupMember.offer_id == offer.id,
                GroupMember.buyer_id == buyer_id,
                GroupMember.status.in_((M.PENDING, M.PAID)),
            )
        )
        or 0
    )
    if int(bought) + quantity > offer.per_buyer_limit:
        raise Conflict(
            _("This group buy is limited to %(n)s per buyer."),
            code="group_limit",
            n=offer.per_buyer_limit,
        )
    address = addresses.delivery_address(db, actor, address_id)
    order = create_orders(
        db,
        buyer_id=buyer_id,
        lines=[PricedLine(offer.sku_id, quantity, offer.price_fen)],
        address=address,
        channel=Channel(type=ORDER_CHANNEL, ref_id=group.id),
    )[0]
    orders_service.hold(db, order_ids=[order.id])
    db.add(
        GroupMember(
            group_id=group.id,
            buyer_id=buyer_id,
            order_id=order.id,
            order_no=order.order_no,
            offer_id=offer.id,
            quantity=quantity,
            status=M.PENDING,
            joined_at=clock.now(),
        )
    )
    try:
        db.flush()
    except IntegrityError:
        db.rollback()
        raise Conflict(_("You are already in this group."), code="already_in_group") from None
    db.commit()
    return Joined(group.id, order.order_no)


# --------------------------------------------------------------------------- listeners


ORDER_CHANNEL = "group"  # the channel of a group's orders (``Order.channel``)

_PENDING_MEMBERS = select(GroupMember).where(
    GroupMember.order_id.in_(bindparam("ids", expanding=True)), GroupMember.status == M.PENDING
)


@lifecycle.on("paid")
def take_places(db: Session, change: lifecycle.Change) -> None:
    """Each paid group order takes a place by one conditional UPDATE; the payment that
    fills a group succeeds it and releases its orders; one that comes too late is marked
    for an immediate refund. One query when no order of the payment is a group's, none
    when the change's lines show none in the group channel."""
    if change.none_in(ORDER_CHANNEL):
        return  # no group's order (every one is placed in the group channel)
    members = list(db.scalars(_PENDING_MEMBERS, {"ids": list(change.order_ids)}))
    for member in members:
        row = db.execute(
            update(_GROUPS)
            .where(
                _GROUPS.c.id == member.group_id,
                _GROUPS.c.status == GroupStatus.OPEN.value,
                _GROUPS.c.paid < _GROUPS.c.size,
                _GROUPS.c.expires_at > change.at,
            )
            .values(paid=_GROUPS.c.paid + 1)
            .returning(_GROUPS.c.paid, _GROUPS.c.size)
        ).first()
        if row is None:
            member.status = M.LATE
            continue
        member.status, member.paid_at = M.PAID, change.at
        if row.paid == row.size:
            _succeed(db, member.group_id, change.at)
    db.flush()


def _succeed(db: Session, group_id: int, at: datetime) -> None:
    db.execute(
        update(Group)
        .where(Group.id == group_id)
        .values(status=GroupStatus.SUCCEEDED, finished_at=at)
        .execution_options(synchronize_session=False)
    )
    db.flush()
    paid = list(
        db.scalars(
            select(GroupMember.order_id).where(
                GroupMember.group_id == group_id, GroupMember.status == M.PAID
            )
        )
    )
    orders_service.hold(db, order_ids=paid, held=False)
    # The members who have not paid keep their orders until the job cancels them: cancelling
    # here would lock their orders and SKUs after the group's row, the reverse of a payment
    # (an order, its SKU, then the group): two payments would deadlock.


def _cancel_unpaid(db: Session, group_id: int, why: str) -> None:
    """The group ended: its members' orders not paid yet are cancelled (stock released)."""
    unpaid = list(
        db.scalars(
            select(GroupMember.order_id).where(
                GroupMember.group_id == group_id, GroupMember.status == M.PENDING
            )
        )
    )
    orders_service.cancel_unpaid(db, order_ids=unpaid, note=f"group buy: {why}")


@lifecycle.on("closed")
def give_back_places(db: Session, change: lifecycle.Change) -> None:
    """A paid member's order closed by a full refund (after-sales, an operator) while its
    group forms: the place comes back (one conditional UPDATE a member), so a group never
    succeeds short of real buyers."""
    members = list(
        db.scalars(
            select(GroupMember).where(
                GroupMember.order_id.in_(change.order_ids), GroupMember.status == M.PAID
            )
        )
    )
    for member in members:
        member.status = M.REFUNDING
        db.execute(
            update(_GROUPS)
            .where(
                _GROUPS.c.id == member.group_id,
                _GROUPS.c.status == GroupStatus.OPEN.value,
                _GROUPS.c.paid > 0,
            )
            .values(paid=_GROUPS.c.paid - 1)
        )
    db.flush()


@lifecycle.on("cancelled")
def free_places(db: Session, change: lifecycle.Change) -> None:
    """An order never paid: its member goes, so the buyer may order again in the group."""
    db.execute(
        delete(GroupMember)
        .where(GroupMember.order_id.in_(change.order_ids), GroupMember.status == M.PENDING)
        .execution_options(synchronize_session=False)
    )


# --------------------------------------------------------------------------- the job


def due(db: Session, *, now: datetime | None = None, limit: int = 100) -> int:
    """Expire the groups whose time ran out (every paid member refunded in full) and refund
    the members who paid too late; each group in its own transaction. Returns how many
    refunds it requested."""
    now = now or clock.now()
    expired = list(
        db.scalars(
            select(Group.id)
            .where(Group.status == GroupStatus.OPEN, Group.expires_at <= now)
            .order_by(Group.expires_at)
            .limit(limit)
        )
    )
    late = list(
        db.scalars(
            select(GroupMember.group_id).where(GroupMember.status == M.LATE).distinct().limit(limit)
        )
    )
    # groups that ended with members who never paid: their orders are cancelled
    unpaid = list(
        db.scalars(
            select(GroupMember.group_id)
            .join(Group, Group.id == GroupMember.group_id)
            .where(GroupMember.status == M.PENDING, Group.status != GroupStatus.OPEN)
            .distinct()
            .limit(limit)
        )
    )
    db.commit()
    refunds = 0
    for group_id in dict.fromkeys([*expired, *late, *unpaid]):
        try:
            refunds += _settle_group(db, group_id, now)
        except DomainError as exc:  # this group waits for the next run; the others go on
            db.rollback()
            log.warning("group %s: %s", group_id, exc)
    return refunds


def _settle_group(db: Session, group_id: int, now: datetime) -> int:
    """One group: the unpaid orders of a group that ended cancelled first, in a transaction
    of their own (orders, then their SKUs: a payment's order of locks), then, under the
    group's lock, its expiry and the refunds."""
    found = db.get(Group, group_id)
    if found is None:
        db.commit()
        return 0
    if found.status != GroupStatus.OPEN or clock.as_utc(found.expires_at) <= now:
        why = "its time ran out" if found.status != GroupStatus.SUCCEEDED else "it filled"
        _cancel_unpaid(db, group_id, why)
        db.commit()
    group = db.scalar(select(Group).where(Group.id == group_id).with_for_update())
    if group is None:
        db.commit()
        return 0
    refund = [M.LATE]
    if group.status == GroupStatus.OPEN and clock.as_utc(group.expires_at) <= now:
        group.status, group.finished_at = GroupStatus.EXPIRED, now
        refund.append(M.PAID)
    members = list(
        db.scalars(
            select(GroupMember).where(
                GroupMember.group_id == group.id, GroupMember.status.in_(refund)
            )
        )
    )
    for member in members:
        left = payments_service.refundable_left(db, order_id=member.order_id)
        if left > 0:  # less what is being refunded already (an after-sales case, say)
            payments_service.request_refund(
                db,
                order_id=member.order_id,
                amount_fen=left,
                reason="拼团未成功，自动退款",
                ref=f"group:{group.id}",
            )
        member.status = M.REFUNDING
    db.commit()
    return len(members)


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class GroupView:
    group: Group
    offer: GroupOffer
    members: list[GroupMember]

    @property
    def places_left(self) -> int:
        return max(0, self.group.size - self.group.paid)


def group_view(db: Session, group_id: int) -> GroupView:
    """A group with its offer and members (public: the share link's page)."""
    group = db.get(Group, group_id) if 0 < group_id <= MAX_ID else None
    if group is None:
        raise NotFound(_("Group not found."), code="group_not_found")
    members = list(
        db.scalars(
            select(GroupMember).where(GroupMember.group_id == group.id).order_by(GroupMember.id)
        )
    )
    return GroupView(group, _offer(db, group.offer_id), members)


@dataclass(frozen=True)
class OfferView:
    offer: GroupOffer
    product: Any  # the catalog's product (title, cover)
    regular_fen: int  # the SKU's own price
    groups: list[Group]  # open to join


def offer_view(db: Session, offer_id: int) -> OfferView:
    """An offer with its product and the groups open to join (public)."""
    offer = _offer(db, offer_id)
    product = catalog_service.get_product(db, offer.product_id)
    sku = next((s for s in product.skus if s.id == offer.sku_id), None)
    open_groups = dict(offers_for_product(db, offer.product_id)).get(offer, [])
    return OfferView(offer, product, sku.price_fen if sku else offer.price_fen, open_groups)


def offers_for_product(db: Session, product_id: int) -> list[tuple[GroupOffer, list[Group]]]:
    """A product's active group offers, each with its groups open to join (a leader has
    paid, places left, time left), two queries."""
    offers = list(
        db.scalars(
            select(GroupOffer).where(
                GroupOffer.product_id == product_id, GroupOffer.status == GroupOfferStatus.ACTIVE
            )
        )
    )
    if not offers:
        return []
    now = clock.now()
    groups: dict[int, list[Group]] = {o.id: [] for o in offers}
    for group in db.scalars(
        select(Group)
        .where(
            Group.offer_id.in_(list(groups)),
            Group.status == GroupStatus.OPEN,
            Group.paid > 0,
            Group.paid < Group.size,
            Group.expires_at > now,
        )
        .order_by(Group.expires_at)
        .limit(50)
    ):
        groups[group.offer_id].append(group)
    return [(o, groups[o.id]) for o in offers]


def shop_offers(db: Session, actor: Actor, shop_id: int) -> list[tuple[GroupOffer, dict[str, int]]]:
    """The shop's group offers with their groups counted by status (its staff)."""
    actor.require_shop(shop_id)
    offers = list(
        db.scalars(
            select(GroupOffer).where(GroupOffer.shop_id == shop_id).order_by(GroupOffer.id.desc())
        )
    )
    counts: dict[int, dict[str, int]] = {o.id: {s.value: 0 for s in GroupStatus} for o in offers}
    if offers:
        for offer_id, status, n in db.execute(
            select(Group.offer_id, Group.status, func.count())
            .where(Group.offer_id.in_(list(counts)))
            .group_by(Group.offer_id, Group.status)
        ):
            counts[offer_id][GroupStatus(status).value] = int(n)
    db.commit()
    return [(o, counts[o.id]) for o in offers]
