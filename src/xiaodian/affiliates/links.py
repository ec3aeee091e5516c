"""Tracked links (``/s/{code}``): a promoter's short code per product and per shop, the
click it records and the lock window it opens.

- A click is recorded once per visitor and link per 30 minutes; obvious bots (no
  User-Agent, or one naming itself a bot, spider, crawler or preview fetcher) are
  redirected without a record.
- The visitor is the signed-in user (``u:<id>``) or, signed out (a page opened from
  Moments), a random id kept in the signed ``xd_touch`` cookie (``v:<id>``); checkout
  hands the cookie's value to the ``created`` listener, which verifies it.
- The lock: a click locks the visitor to the link's promoter for the product (or the whole
  shop) for the shop's window (product 5 days, content 10). While a lock is in force a
  click on another promoter's link does not take it (the first promoter keeps the buyer);
  the same promoter's click starts the window again; once it ran out, the next click takes
  it. An order extends it (``attribution.py``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian import settings as settings_module
from xiaodian.actor import Actor
from xiaodian.affiliates import rules
from xiaodian.affiliates.models import Click, Link, LinkKind, Lock, ShopRule, Touch
from xiaodian.catalog import service as catalog_service
from xiaodian.errors import InvalidInput, NotFound, _
from xiaodian.merchants import service as merchants_service

CLICK_DEDUPE = timedelta(minutes=30)
CODE_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
CODE_PATTERN = re.compile(r"^[A-Za-z0-9]{1,16}$")
_BOTS = re.compile(
    r"bot|spider|crawl|slurp|preview|facebookexternalhit|python-requests|curl|wget|scrapy",
    re.IGNORECASE,
)


# --------------------------------------------------------------------------- visitors


def _sign(value: str) -> str:
    key = settings_module.current().secret_key.encode()
    return hmac.new(key, f"touch:{value}".encode(), hashlib.sha256).hexdigest()[:24]


def new_touch() -> str:
    """A fresh visitor id in its signed form, the value of the ``xd_touch`` cookie."""
    value = secrets.token_urlsafe(12)
    return f"{value}.{_sign(value)}"


def visitor_of_touch(touch: str) -> str | None:
    """``v:<id>`` of a genuine cookie value; None for a missing or forged one."""
    value, _dot, signature = touch.partition(".")
    if not value or len(value) > 32 or not hmac.compare_digest(signature, _sign(value)):
        return None
    return f"v:{value}"


def is_bot(user_agent: str) -> bool:
    return not user_agent.strip() or _BOTS.search(user_agent) is not None


# --------------------------------------------------------------------------- links


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def get_or_create_link(
    db: Session,
    actor: Actor,
    *,
    product_id: int | None = None,
    shop_id: int | None = None,
    kind: str = "product",
) -> Link:
    """The signed-in promoter's link for a product (``product``, or ``content`` for a video
    or a live room) or for a whole shop (``shop``); the same link again if it exists.
    A product outside every plan may still be linked (it earns nothing). Commits."""
    promoter_id = actor.require_user()
    try:
        link_kind = LinkKind(kind)
    except ValueError:
        raise InvalidInput(
            _("A link is for a product, a shop or content."), code="bad_link_kind"
        ) from None
    if link_kind is LinkKind.SHOP:
        if shop_id is None or product_id is not None:
            raise InvalidInput(_("A shop link names the shop only."), code="bad_link_target")
        shop = merchants_service.get_shop(db, shop_id)
        if not shop.is_active:
            raise NotFound(_("Shop not found."), code="shop_not_found")
        target_shop, target_product = shop.id, 0
    else:
        if product_id is None or shop_id is not None:
            raise InvalidInput(_("A product link names the product only."), code="bad_link_target")
        product = catalog_service.get_product(db, product_id)
        target_shop, target_product = product.shop_id, product.id
    try:
        link = ensure_link(
            db,
            promoter_id=promoter_id,
            shop_id=target_shop,
            product_id=target_product,
            kind=link_kind,
        )
    except IntegrityError:  # the same link made concurrently (or a code drawn twice)
        db.rollback()
        raise InvalidInput(_("Please try again."), code="link_retry") from None
    db.commit()
    return link


def ensure_link(
    db: Session,
    *,
    promoter_id: int,
    shop_id: int,
    product_id: int,
    kind: LinkKind = LinkKind.PRODUCT,
) -> Link:
    """The promoter's link for this target, made when missing; joins the caller's
    transaction (the showcase adds its item and the link in one; posters)."""
    found = db.scalar(
        select(Link).where(
            Link.promoter_id == promoter_id,
            Link.shop_id == shop_id,
            Link.product_id == product_id,
            Link.kind == kind,
        )
    )
    if found is not None:
        return found
    link = Link(
        code=_new_code(),
        promoter_id=promoter_id,
        shop_id=shop_id,
        product_id=product_id,
        kind=kind,
        created_at=clock.now(),
    )
    db.add(link)
    db.flush()
    return link


def my_links(db: Session, actor: Actor) -> list[Link]:
    promoter_id = actor.require_user()
    return list(
        db.scalars(select(Link).where(Link.promoter_id == promoter_id).order_by(Link.id.desc()))
    )


def target_of(link: Link) -> str:
    """Where a click lands: the product (or the shop) with the attribution in the URL."""
    if link.kind is LinkKind.SHOP:
        return f"/shops/{link.shop_id}?aff={link.code}"
    return f"/p/{link.product_id}?aff={link.code}"


# --------------------------------------------------------------------------- clicks


@dataclass(frozen=True)
class Followed:
    target: str
    recorded: bool  # a click was counted (not a bot, not a repeat within 30 minutes)
    touch: str  # the cookie value to set ("" when the visitor's cookie stays as it is)


def follow(db: Session, actor: Actor, *, code: str, touch: str, user_agent: str) -> Followed:
    """A visitor follows a tracked link: record the click (once per 30 minutes, not for a
    bot), open or renew the lock, and say where to go. NotFound for an unknown code (nothing
    written). Commits."""
    if not CODE_PATTERN.match(code):
        raise NotFound(_("This link does not exist."), code="link_not_found")
    found = db.execute(
        select(Link, ShopRule)
        .outerjoin(ShopRule, ShopRule.shop_id == Link.shop_id)
        .where(Link.code == code)
    ).first()
    if found is None:
        raise NotFound(_("This link does not exist."), code="link_not_found")
    link, rule_row = found
    target = target_of(link)
    visitor = f"u:{actor.user_id}" if actor.user_id is not None else visitor_of_touch(touch)
    new_cookie = ""
    if visitor is None:
        new_cookie = new_touch()
        visitor = visitor_of_touch(new_cookie)
        assert visitor is not None
    if is_bot(user_agent):
        db.commit()
        return Followed(target, False, new_cookie)
    now = clock.now()
    rule = rules.rule_of(rule_row, link.shop_id)
    if new_cookie:  # a visitor seen for the first time has no click and no lock yet
        db.add(Click(link_id=link.id, visitor=visitor, at=now))
        db.add(_new_lock(link, visitor, now, rule))
        return _commit(db, target, new_cookie)
    repeat = db.scalar(
        select(Click.id)
        .where(Click.link_id == link.id, Click.visitor == visitor, Click.at > now - CLICK_DEDUPE)
        .limit(1)
    )
    if repeat is not None:
        db.commit()
        return Followed(target, False, new_cookie)
    db.add(Click(link_id=link.id, visitor=visitor, at=now))
    _lock(db, link, visitor, now, rule)
    return _commit(db, target, new_cookie)


def _commit(db: Session, target: str, new_cookie: str) -> Followed:
    try:
        db.commit()
    except IntegrityError:  # the same visitor's lock made by a concurrent click: it counts
        db.rollback()
        return Followed(target, False, new_cookie)
    return Followed(target, True, new_cookie)


def _window(link: Link, rule: rules.Rule) -> timedelta:
    return timedelta(days=rule.content_days if link.kind is LinkKind.CONTENT else rule.product_days)


def _new_lock(link: Link, visitor: str, now: datetime, rule: rules.Rule) -> Lock:
    return Lock(
        visitor=visitor,
        shop_id=link.shop_id,
        product_id=link.product_id,
        promoter_id=link.promoter_id,
        link_id=link.id,
        kind=link.kind,
        clicked_at=now,
        locked_until=now + _window(link, rule),
    )


def _lock(db: Session, link: Link, visitor: str, now: datetime, rule: rules.Rule) -> None:
    extended = (
        select(func.max(Touch.extends_until)).where(Touch.lock_id == Lock.id).scalar_subquery()
    )
    row = db.execute(
        select(Lock, extended).where(
            Lock.visitor == visitor,
            Lock.shop_id == link.shop_id,
            Lock.product_id == link.product_id,
        )
    ).first()
    until = now + _window(link, rule)
    if row is None:
        db.add(_new_lock(link, visitor, now, rule))
        return
    lock, extension = row
    ends = max(lock.locked_until, extension) if extension is not None else lock.locked_until
    if ends > now and lock.promoter_id != link.promoter_id:
        return  # in force for another promoter: the first one keeps the buyer
    lock.promoter_id, lock.link_id, lock.kind = link.promoter_id, link.id, link.kind
    lock.clicked_at, lock.locked_until = now, until
