"""Shipping addresses (收货地址): a buyer sees and edits only their own; one is the default."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from xiaodian import bulk
from xiaodian.actor import Actor
from xiaodian.db import MAX_ID
from xiaodian.errors import Conflict, InvalidInput, NotFound, _
from xiaodian.orders.models import Address

MAX_ADDRESSES = 20
CN_MOBILE = re.compile(r"^1[3-9]\d{9}$")

# field -> (min length, max length, label msgid)
LIMITS: dict[str, tuple[int, int, str]] = {
    "name": (1, 20, _("Recipient")),
    "province": (1, 20, _("Province")),
    "city": (1, 20, _("City")),
    "district": (1, 20, _("District")),
    "detail": (4, 120, _("Street address")),
}


@dataclass
class AddressInput:
    name: str
    phone: str
    province: str
    city: str
    district: str
    detail: str
    is_default: bool = False

    def cleaned(self) -> AddressInput:
        """Trimmed and checked; InvalidInput naming the first bad field."""
        values = {}
        for key, (low, high, label) in LIMITS.items():
            value = " ".join(str(getattr(self, key) or "").split())
            if not low <= len(value) <= high:
                raise InvalidInput(
                    _("%(field)s must be %(min)s to %(max)s characters."),
                    code=f"bad_{key}",
                    field=label,
                    min=low,
                    max=high,
                )
            values[key] = value
        phone = re.sub(r"[\s-]", "", str(self.phone or ""))
        if phone.startswith("+86"):
            phone = phone[3:]
        if not CN_MOBILE.match(phone):
            raise InvalidInput(
                _("Enter a valid mainland China mobile number (11 digits)."), code="bad_phone"
            )
        return AddressInput(phone=phone, is_default=bool(self.is_default), **values)


def list_addresses(db: Session, actor: Actor) -> list[Address]:
    user_id = actor.require_user()
    return list(
        db.scalars(
            select(Address)
            .where(Address.user_id == user_id)
            .order_by(Address.is_default.desc(), Address.id.desc())
        )
    )


def get_address(db: Session, actor: Actor, address_id: int) -> Address:
    """The actor's own address; anybody else's is "not found"."""
    user_id = actor.require_user()
    if isinstance(address_id, bool) or not 0 < address_id <= MAX_ID:
        raise NotFound(_("Address not found."), code="address_not_found")
    address = db.get(Address, address_id)
    if address is None or address.user_id != user_id:
        raise NotFound(_("Address not found."), code="address_not_found")
    return address


def default_address(db: Session, actor: Actor) -> Address | None:
    addresses = list_addresses(db, actor)
    return addresses[0] if addresses else None


def delivery_address(db: Session, actor: Actor, address_id: int | None) -> dict[str, str]:
    """The snapshot an order keeps: the actor's address ``address_id``, or their default
    one when None. Raises NotFound (not theirs), InvalidInput ``address_required`` (none)."""
    if address_id is not None:
        if not isinstance(address_id, int) or isinstance(address_id, bool) or address_id <= 0:
            raise NotFound(_("Address not found."), code="address_not_found")
        return get_address(db, actor, address_id).snapshot()
    found = default_address(db, actor)
    if found is None:
        raise InvalidInput(_("Add a shipping address first."), code="address_required")
    return found.snapshot()


def default_addresses(db: Session, user_ids: list[int]) -> dict[int, Address]:
    """Each user's default address (as ``default_address``) in one query; users without
    an address are left out. For batch work (a live flash sale's writer). Read-only."""
    found: dict[int, Address] = {}
    if not user_ids:
        return found
    for address in db.scalars(
        select(Address)
        .where(bulk.in_values(db, Address.user_id, set(user_ids)))
        .order_by(Address.user_id, Address.is_default.desc(), Address.id.desc())
    ):
        found.setdefault(address.user_id, address)
    return found


def _make_default(db: Session, user_id: int, address: Address) -> None:
    db.execute(
        update(Address)
        .where(Address.user_id == user_id, Address.id != address.id)
        .values(is_default=False)
        .execution_options(synchronize_session="fetch")
    )
    address.is_default = True


def create_address(db: Session, actor: Actor, data: AddressInput) -> Address:
    user_id = actor.require_user()
    clean = data.cleaned()
    count = db.scalar(select(func.count()).where(Address.user_id == user_id)) or 0
    if count >= MAX_ADDRESSES:
        raise Conflict(
            _("You can keep at most %(n)s addresses."), code="too_many_addresses", n=MAX_ADDRESSES
        )
    address = Address(
        user_id=user_id,
        name=clean.name,
        phone=clean.phone,
        province=clean.province,
        city=clean.city,
        district=clean.district,
        detail=clean.detail,
        is_default=False,
    )
    db.add(address)
    db.flush()
    if clean.is_default or count == 0:
        _make_default(db, user_id, address)
    db.commit()
    return address


def update_address(db: Session, actor: Actor, address_id: int, data: AddressInput) -> Address:
    address = get_address(db, actor, address_id)
    clean = data.cleaned()
    for key in ("name", "phone", "province", "city", "district", "detail"):
        setattr(address, key, getattr(clean, key))
    if clean.is_default:
        _make_default(db, address.user_id, address)
    db.commit()
    return address


def set_default_address(db: Session, actor: Actor, address_id: int) -> Address:
    address = get_address(db, actor, address_id)
    _make_default(db, address.user_id, address)
    db.commit()
    return address


def delete_address(db: Session, actor: Actor, address_id: int) -> None:
    """Orders keep their own copy, so deleting an address never changes an order."""
    address = get_address(db, actor, address_id)
    was_default = address.is_default
    user_id = address.user_id
    db.delete(address)
    db.flush()
    if was_default:
        newest = db.scalar(
            select(Address).where(Address.user_id == user_id).order_by(Address.id.desc()).limit(1)
        )
        if newest is not None:
            newest.is_default = True
    db.commit()
