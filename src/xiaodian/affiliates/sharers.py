"""Sharers (分享员): people a shop invites to pass its products to friends and Moments.

WeChat Shop's rules, kept here:

- a shop invites by account (the person sees the invitation under "my invitations") or by an
  invite QR code anyone may scan; either is valid for ``INVITE_DAYS`` (15) days, and the
  shop can revoke it before;
- the invited person accepts; from then they are the shop's sharer (``ShopSharer``), and
  their tracked links of its products credit them as any promoter's do;
- a sharer cannot be unbound, by the shop or by themselves, within ``MIN_BOUND`` (a day) of
  binding;
- the shop's own staff cannot be its sharers (an invitation to them is refused, and so is
  accepting one).

Each public function is one transaction (commits); every refusal writes nothing.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian.accounts import service as accounts_service
from xiaodian.actor import Actor
from xiaodian.affiliates.models import SharerInvite, ShopSharer
from xiaodian.db import MAX_ID
from xiaodian.errors import Conflict, NotFound, PermissionDenied, _
from xiaodian.merchants import service as merchants_service

INVITE_DAYS = 15
MIN_BOUND = timedelta(days=1)
LIST_MAX = 500


def join_path(code: str) -> str:
    """Where an invite QR code leads (the page that shows the shop and "accept")."""
    return f"/sharers/join/{code}"


def _staff_refusal() -> PermissionDenied:
    return PermissionDenied(
        _("The shop's own staff cannot be its sharers."), code="staff_cannot_share"
    )


def _bound(db: Session, shop_id: int, user_id: int) -> ShopSharer | None:
    return db.scalar(
        select(ShopSharer).where(
            ShopSharer.shop_id == shop_id,
            ShopSharer.user_id == user_id,
            ShopSharer.unbound_at.is_(None),
        )
    )


def _new_invite(db: Session, shop_id: int, by: int, user_id: int | None) -> SharerInvite:
    now = clock.now()
    invite = SharerInvite(
        shop_id=shop_id,
        code=secrets.token_urlsafe(12),
        user_id=user_id,
        created_by=by,
        created_at=now,
        expires_at=now + timedelta(days=INVITE_DAYS),
    )
    db.add(invite)
    db.flush()
    return invite


def invite_account(db: Session, actor: Actor, shop_id: int, *, login: str) -> SharerInvite:
    """Invite the account with this phone or email; the shop's staff. Raises NotFound (no
    such account), PermissionDenied (a member of the shop), Conflict (already the shop's
    sharer, or invited and not yet answered)."""
    by = actor.require_shop(shop_id)
    user = accounts_service.get_by_login(db, (login or "").strip()[:254])
    if merchants_service.is_member(db, shop_id, user.id):
        raise _staff_refusal()
    if _bound(db, shop_id, user.id) is not None:
        raise Conflict(_("This account is already the shop's sharer."), code="already_sharer")
    pending = db.scalar(
        select(SharerInvite.id).where(
            SharerInvite.shop_id == shop_id,
            SharerInvite.user_id == user.id,
            SharerInvite.accepted_at.is_(None),
            SharerInvite.revoked_at.is_(None),
            SharerInvite.expires_at > clock.now(),
        )
    )
    if pending is not None:
        raise Conflict(_("This account has an invitation waiting already."), code="invited")
    invite = _new_invite(db, shop_id, by, user.id)
    db.commit()
    return invite


def invite_code(db: Session, actor: Actor, shop_id: int) -> SharerInvite:
    """A new invite QR code of the shop (anyone who scans it may accept); the shop's
    staff."""
    by = actor.require_shop(shop_id)
    invite = _new_invite(db, shop_id, by, None)
    db.commit()
    return invite


def revoke(db: Session, actor: Actor, shop_id: int, invite_id: int) -> None:
    """Withdraw an invitation not yet accepted; the shop's staff."""
    actor.require_shop(shop_id)
    invite = db.get(SharerInvite, invite_id) if 0 < invite_id <= MAX_ID else None
    if invite is None or invite.shop_id != shop_id:
        raise NotFound(_("Invitation not found."), code="invite_not_found")
    if invite.accepted_at is None and invite.revoked_at is None:
        invite.revoked_at = clock.now()
    db.commit()


def _usable(db: Session, code: str) -> SharerInvite:
    invite = None
    if code and len(code) <= 32:
        invite = db.scalar(select(SharerInvite).where(SharerInvite.code == code))
    if invite is None:
        raise NotFound(_("Invitation not found."), code="invite_not_found")
    if invite.revoked_at is not None or clock.as_utc(invite.expires_at) <= clock.now():
        raise Conflict(_("This invitation has expired."), code="invite_expired")
    return invite


@dataclass(frozen=True)
class InviteView:
    invite: SharerInvite
    shop_name: str
    yours: bool  # for this visitor (an account's invitation to them, or a code)
    bound: bool  # the visitor is the shop's sharer already


def invite_view(db: Session, actor: Actor, code: str) -> InviteView:
    """An invitation by its code, for the page that accepts it (its shop's name)."""
    invite = _usable(db, code)
    shop = merchants_service.get_shop(db, invite.shop_id)
    user_id = actor.user_id
    return InviteView(
        invite=invite,
        shop_name=shop.name,
        yours=invite.user_id is None or invite.user_id == user_id,
        bound=user_id is not None and _bound(db, invite.shop_id, user_id) is not None,
    )


def accept(db: Session, actor: Actor, code: str) -> ShopSharer:
    """The signed-in person accepts the invitation: they become the shop's sharer. Raises
    NotFound (no such code, or an account's invitation meant for someone else), Conflict
    (expired, revoked, already accepted, already the shop's sharer), PermissionDenied (the
    shop's staff)."""
    user_id = actor.require_user()
    invite = _usable(db, code)
    if invite.user_id is not None and invite.user_id != user_id:
        raise NotFound(_("Invitation not found."), code="invite_not_found")
    if invite.accepted_at is not None:
        raise Conflict(_("This invitation was accepted already."), code="invite_used")
    if merchants_service.is_member(db, invite.shop_id, user_id):
        raise _staff_refusal()
    if _bound(db, invite.shop_id, user_id) is not None:
        raise Conflict(_("You are already the shop's sharer."), code="already_sharer")
    now = clock.now()
    if invite.user_id is not None:
        invite.accepted_at = now
    sharer = ShopSharer(shop_id=invite.shop_id, user_id=user_id, invite_id=invite.id, bound_at=now)
    db.add(sharer)
    try:
        db.commit()
    except IntegrityError:  # the same person accepting twice at once
        db.rollback()
        raise Conflict(_("You are already the shop's sharer."), code="already_sharer") from None
    return sharer


def unbind(db: Session, actor: Actor, sharer_id: int) -> ShopSharer:
    """End a binding: the shop's staff or the sharer themselves, not within a day of
    binding. Raises NotFound, PermissionDenied, Conflict (too soon, or ended already)."""
    user_id = actor.require_user()
    sharer = (
        db.scalar(select(ShopSharer).where(ShopSharer.id == sharer_id).with_for_update())
        if 0 < sharer_id <= MAX_ID
        else None
    )
    if sharer is None or (sharer.user_id != user_id and not actor.can_manage_shop(sharer.shop_id)):
        raise NotFound(_("Sharer not found."), code="sharer_not_found")
    if sharer.unbound_at is not None:
        raise Conflict(_("This sharer is no longer bound to the shop."), code="not_bound")
    now = clock.now()
    if now - clock.as_utc(sharer.bound_at) < MIN_BOUND:
        raise Conflict(
            _("A sharer can be unbound one day after binding, not sooner."), code="too_soon"
        )
    sharer.unbound_at, sharer.unbound_by = now, user_id
    db.commit()
    return sharer


@dataclass(frozen=True)
class SharerRow:
    sharer: ShopSharer
    name: str
    unbind_from: datetime  # the first moment it may be unbound


def shop_sharers(db: Session, actor: Actor, shop_id: int) -> list[SharerRow]:
    """The shop's bound sharers, newest first; its staff. Two queries."""
    actor.require_shop(shop_id)
    rows = list(
        db.scalars(
            select(ShopSharer)
            .where(ShopSharer.shop_id == shop_id, ShopSharer.unbound_at.is_(None))
            .order_by(ShopSharer.bound_at.desc(), ShopSharer.id.desc())
            .limit(LIST_MAX)
        )
    )
    users = accounts_service.users_by_ids(db, {r.user_id for r in rows})
    return [
        SharerRow(
            sharer=r,
            name=users[r.user_id].display_name if r.user_id in users else f"#{r.user_id}",
            unbind_from=clock.as_utc(r.bound_at) + MIN_BOUND,
        )
        for r in rows
    ]


def shop_invites(db: Session, actor: Actor, shop_id: int) -> list[SharerInvite]:
    """The shop's invitations still open (neither accepted, revoked nor expired)."""
    actor.require_shop(shop_id)
    return list(
        db.scalars(
            select(SharerInvite)
            .where(
                SharerInvite.shop_id == shop_id,
                SharerInvite.accepted_at.is_(None),
                SharerInvite.revoked_at.is_(None),
                SharerInvite.expires_at > clock.now(),
            )
            .order_by(SharerInvite.id.desc())
            .limit(LIST_MAX)
        )
    )


@dataclass(frozen=True)
class MyInvite:
    invite: SharerInvite
    shop_name: str


def my_invites(db: Session, actor: Actor) -> list[MyInvite]:
    """The invitations waiting for the signed-in person. Two queries."""
    user_id = actor.require_user()
    invites = list(
        db.scalars(
            select(SharerInvite)
            .where(
                SharerInvite.user_id == user_id,
                SharerInvite.accepted_at.is_(None),
                SharerInvite.revoked_at.is_(None),
                SharerInvite.expires_at > clock.now(),
            )
            .order_by(SharerInvite.id.desc())
            .limit(LIST_MAX)
        )
    )
    shops = merchants_service.shops_by_ids(db, {i.shop_id for i in invites})
    return [MyInvite(i, shops[i.shop_id].name) for i in invites if i.shop_id in shops]


def my_shops(db: Session, actor: Actor) -> list[tuple[ShopSharer, str]]:
    """The shops the signed-in person shares for, with their names."""
    user_id = actor.require_user()
    rows = list(
        db.scalars(
            select(ShopSharer)
            .where(ShopSharer.user_id == user_id, ShopSharer.unbound_at.is_(None))
            .order_by(ShopSharer.bound_at.desc())
            .limit(LIST_MAX)
        )
    )
    shops = merchants_service.shops_by_ids(db, {r.shop_id for r in rows})
    return [(r, shops[r.shop_id].name) for r in rows if r.shop_id in shops]
