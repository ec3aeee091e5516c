"""Shops and their members (owner, staff); the reads other domains use.

Onboarding (applications) lives in ``merchants.applications``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, Subquery, cast, func, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian.accounts import service as accounts_service
from xiaodian.accounts.service import User
from xiaodian.actor import Actor
from xiaodian.errors import Conflict, InvalidInput, NotFound, _
from xiaodian.merchants import uploads
from xiaodian.merchants.models import MemberRole, ShopMember
from xiaodian.merchants.models import Shop as Shop  # re-exported: other domains use this

DESCRIPTION_MAX = 500
MAX_STAFF = 50


@dataclass(frozen=True)
class MemberView:
    user_id: int
    display_name: str
    login: str  # masked, e.g. 138****0001
    role: MemberRole
    added_at: datetime


# --------------------------------------------------------------------------- shops


def roles_of(db: Session, *, user_id: int) -> dict[int, str]:
    """The shops a user works for, with their role in each."""
    rows = db.execute(
        select(ShopMember.shop_id, ShopMember.role).where(ShopMember.user_id == user_id)
    )
    return {shop_id: str(role) for shop_id, role in rows}


def roles_column(user_id: Any) -> Any:
    """``roles_of`` for many users as a column of the caller's query about them (``user_id``
    is its user id column): "12:owner,15:staff", or NULL without a shop. Read it with
    ``parse_roles``: one query, not one more, where users are looked up in bulk."""
    pair = cast(ShopMember.shop_id, String) + literal(":") + cast(ShopMember.role, String)
    return (
        select(func.aggregate_strings(pair, ","))
        .where(ShopMember.user_id == user_id)
        .scalar_subquery()
    )


def parse_roles(value: str | None) -> dict[int, str]:
    """What ``roles_column`` gave, as ``roles_of`` gives it."""
    roles: dict[int, str] = {}
    for item in (value or "").split(","):
        shop_id, _sep, role = item.partition(":")
        if shop_id.isdigit() and role:
            roles[int(shop_id)] = role
    return roles


accounts_service.use_shop_roles(accounts_service.ShopRoles(column=roles_column, parse=parse_roles))


def shops_to_join() -> Subquery:
    """Shops as another domain may join them into a query of its own (``id``, ``name``,
    ``is_active``), so what it lists with their shop stays one query: catalog's listings
    and the SKUs checkout sells. Read-only; join on ``.c.id``."""
    shops = Shop.__table__.c  # the table's: no ORM execution for the queries that join it
    return select(shops.id, shops.name, shops.is_active).subquery("shop")


def get_shop(db: Session, shop_id: int) -> Shop:
    """A shop by id (active or not). Raises NotFound. Read-only."""
    shop = db.get(Shop, shop_id)
    if shop is None:
        raise NotFound(_("Shop not found."), code="shop_not_found")
    return shop


def shops_by_ids(db: Session, ids: Iterable[int]) -> dict[int, Shop]:
    """Shops by id in one query; unknown ids are left out. Read-only."""
    wanted = set(ids)
    if not wanted:
        return {}
    return {s.id: s for s in db.scalars(select(Shop).where(Shop.id.in_(wanted)))}


def list_shops(db: Session) -> list[Shop]:
    """Every active shop, oldest first. Read-only."""
    return list(db.scalars(select(Shop).where(Shop.is_active.is_(True)).order_by(Shop.id)))


def is_member(db: Session, shop_id: int, user_id: int) -> bool:
    """Whether the user is the owner or staff of the shop. Read-only."""
    found = db.scalar(
        select(ShopMember.id).where(ShopMember.shop_id == shop_id, ShopMember.user_id == user_id)
    )
    return found is not None


def my_shops(db: Session, actor: Actor) -> list[Shop]:
    """The shops the signed-in user belongs to (owner or staff), oldest first."""
    actor.require_user()
    shops = shops_by_ids(db, actor.shop_ids)
    return [shops[i] for i in sorted(shops)]


def console_shop(db: Session, actor: Actor, shop_id: int) -> Shop:
    """The shop for its console pages: its members only (others get 404)."""
    actor.require_shop(shop_id)
    return get_shop(db, shop_id)


def update_shop(
    db: Session,
    actor: Actor,
    shop_id: int,
    *,
    description: str | None = None,
    logo: bytes | None = None,
) -> Shop:
    """Owner: change the description and/or the logo. Raises InvalidInput, TooLarge, 403/404."""
    actor.require_shop(shop_id, owner=True)
    shop = get_shop(db, shop_id)
    text = None if description is None else description.strip().replace("\r\n", "\n")
    if text is not None and len(text) > DESCRIPTION_MAX:
        raise InvalidInput(
            _("The description may have at most %(n)s characters."),
            code="invalid_description",
            n=DESCRIPTION_MAX,
        )
    stored = uploads.store({"logo": (logo, uploads.LOGO_FOLDER)})
    with uploads.all_or_nothing(db, stored):
        if text is not None:
            shop.description = text
        if "logo" in stored:
            shop.logo_path = stored["logo"].path
        db.commit()
    return shop


def set_shop_active(db: Session, shop_id: int, *, active: bool) -> bool:
    """Suspend a shop (inactive: its products are not for sale, it is left out of the
    marketplace and the daily jobs) or lift the suspension. Returns whether the shop was
    active before. Raises NotFound. Joins the caller's transaction (the violations
    domain's penalty: the caller has checked the operator, or it is a job lifting an
    expired suspension)."""
    shop = db.scalar(
        select(Shop)
        .where(Shop.id == shop_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if shop is None:
        raise NotFound(_("Shop not found."), code="shop_not_found")
    was = shop.is_active
    shop.is_active = active
    return was


def _mask(user: User) -> str:
    if user.phone:
        return f"{user.phone[:3]}****{user.phone[-4:]}"
    if user.email:
        name, _at, domain = user.email.partition("@")
        return f"{name[:2]}***@{domain}"
    return ""


def list_members(db: Session, actor: Actor, shop_id: int) -> list[MemberView]:
    """Owner first, then staff by date added. Any member of the shop may look."""
    actor.require_shop(shop_id)
    members = list(
        db.scalars(
            select(ShopMember)
            .where(ShopMember.shop_id == shop_id)
            .order_by(ShopMember.role != MemberRole.OWNER, ShopMember.added_at, ShopMember.id)
        )
    )
    users = accounts_service.users_by_ids(db, (m.user_id for m in members))
    return [
        MemberView(
            user_id=m.user_id,
            display_name=users[m.user_id].display_name if m.user_id in users else "",
            login=_mask(users[m.user_id]) if m.user_id in users else "",
            role=m.role,
            added_at=m.added_at,
        )
        for m in members
    ]


def add_staff(db: Session, actor: Actor, shop_id: int, *, login: str) -> MemberView:
    """Owner: add an existing account (by phone or email) as staff.
    Raises 403 (staff), 404 (stranger / unknown account), 409 (already a member)."""
    owner_id = actor.require_shop(shop_id, owner=True)
    user = accounts_service.get_by_login(db, login)
    if is_member(db, shop_id, user.id):
        raise Conflict(_("This account already works for the shop."), code="already_member")
    count = db.scalar(
        select(func.count()).select_from(ShopMember).where(ShopMember.shop_id == shop_id)
    )
    if (count or 0) >= MAX_STAFF:
        raise Conflict(
            _("A shop can have at most %(n)s members."), code="too_many_staff", n=MAX_STAFF
        )
    member = ShopMember(
        shop_id=shop_id,
        user_id=user.id,
        role=MemberRole.STAFF,
        added_at=clock.now(),
        added_by_id=owner_id,
    )
    db.add(member)
    accounts_service.actor_changed(db, user_id=user.id)
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        raise Conflict(
            _("This account already works for the shop."), code="already_member"
        ) from None
    return MemberView(
        user_id=user.id,
        display_name=user.display_name,
        login=_mask(user),
        role=member.role,
        added_at=member.added_at,
    )


STAFF_ROLES = (MemberRole.STAFF, MemberRole.FINANCE)


def set_member_role(db: Session, actor: Actor, shop_id: int, user_id: int, *, role: str) -> None:
    """Owner: make a member plain staff or finance staff (who also see the shop's money).
    The owner's own role never changes (409); 422 for another role; commits."""
    actor.require_shop(shop_id, owner=True)
    if role not in {r.value for r in STAFF_ROLES}:
        raise InvalidInput(_("Unknown role."), code="bad_role")
    member = db.scalar(
        select(ShopMember).where(ShopMember.shop_id == shop_id, ShopMember.user_id == user_id)
    )
    if member is None:
        raise NotFound(_("This account is not a member of the shop."), code="member_not_found")
    if member.role == MemberRole.OWNER:
        raise Conflict(_("The owner's role cannot be changed."), code="cannot_change_owner")
    if member.role != role:
        member.role = MemberRole(role)
        accounts_service.actor_changed(db, user_id=user_id)
    db.commit()


def remove_member(db: Session, actor: Actor, shop_id: int, user_id: int) -> None:
    """Owner: remove a staff member. The owner cannot remove themselves (409)."""
    owner_id = actor.require_shop(shop_id, owner=True)
    if user_id == owner_id:
        raise Conflict(_("The owner cannot be removed from the shop."), code="cannot_remove_owner")
    member = db.scalar(
        select(ShopMember).where(ShopMember.shop_id == shop_id, ShopMember.user_id == user_id)
    )
    if member is None:
        raise NotFound(_("This account is not a member of the shop."), code="member_not_found")
    if member.role == MemberRole.OWNER:
        raise Conflict(_("The owner cannot be removed from the shop."), code="cannot_remove_owner")
    db.delete(member)
    accounts_service.actor_changed(db, user_id=user_id)
    db.commit()
