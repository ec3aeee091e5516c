"""External products (种草 elsewhere): a creator features a product sold on another
platform (JD, Tmall, Taobao, Pinduoduo; the allowed domains are ``XIAODIAN_EXTERNAL_DOMAINS``)
as a card in their showcase. The card records the click and redirects to the address
stored when it was made (``/x/<card id>``): the redirect never takes an address from the
request, so no other domain can be reached through it, and the card never enters the
cart. Each public function is one transaction."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian import settings as settings_module
from xiaodian.actor import Actor
from xiaodian.affiliates.models import ExternalCard
from xiaodian.db import MAX_ID
from xiaodian.errors import Conflict, InvalidInput, NotFound, PermissionDenied, _

MAX_CARDS = 100


def allowed_domains() -> list[str]:
    raw = settings_module.current().external_domains
    return [d.strip().lower().lstrip(".") for d in raw.split(",") if d.strip()]


def check_url(url: str) -> tuple[str, str]:
    """(the address, its host) when it is https (or http) on an allowed domain or one of its
    subdomains; InvalidInput otherwise (another domain, a look-alike such as
    ``jd.com.example.net``, credentials in the address, another scheme)."""
    text = (url or "").strip()
    if not text or len(text) > 500:
        raise InvalidInput(_("Give the product's address on the other platform."), code="bad_url")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise InvalidInput(_("That is not a web address."), code="bad_url") from None
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host or parts.username or parts.password:
        raise InvalidInput(_("That is not a web address."), code="bad_url")
    if port not in (None, 80, 443):
        raise InvalidInput(_("That is not a web address."), code="bad_url")
    if not any(host == d or host.endswith("." + d) for d in allowed_domains()):
        raise InvalidInput(
            _("Only products on these platforms can be featured: %(domains)s."),
            code="domain_not_allowed",
            domains=", ".join(allowed_domains()),
        )
    return text, host


def add_card(
    db: Session, actor: Actor, *, title: str, url: str, price_fen: int | None = None
) -> ExternalCard:
    """A creator's card for a product on another platform."""
    creator_id = actor.require_user()
    if not actor.is_creator:
        raise PermissionDenied(_("Only creators have a showcase."), code="not_a_creator")
    name = " ".join((title or "").split())
    if not 1 <= len(name) <= 60:
        raise InvalidInput(_("Give the product a name (at most 60 characters)."), code="bad_title")
    if price_fen is not None and not (isinstance(price_fen, int) and 0 < price_fen <= 10**10):
        raise InvalidInput(_("The price must be above zero."), code="bad_price")
    address, host = check_url(url)
    count = len(cards_of(db, creator_id))
    if count >= MAX_CARDS:
        raise Conflict(_("At most %(n)s external products."), code="too_many_cards", n=MAX_CARDS)
    card = ExternalCard(
        creator_id=creator_id,
        title=name,
        url=address,
        host=host,
        price_fen=price_fen,
        clicks=0,
        created_at=clock.now(),
    )
    db.add(card)
    db.commit()
    return card


def remove_card(db: Session, actor: Actor, card_id: int) -> None:
    creator_id = actor.require_user()
    card = db.get(ExternalCard, card_id) if 0 < card_id <= MAX_ID else None
    if card is None or card.creator_id != creator_id:
        raise NotFound(_("Card not found."), code="card_not_found")
    db.delete(card)
    db.commit()


def cards_of(db: Session, creator_id: int) -> list[ExternalCard]:
    return list(
        db.scalars(
            select(ExternalCard)
            .where(ExternalCard.creator_id == creator_id)
            .order_by(ExternalCard.id)
            .limit(MAX_CARDS)
        )
    )


def follow_card(db: Session, card_id: int) -> str:
    """Count the click and give back the stored address (NotFound for an unknown card)."""
    if not 0 < card_id <= MAX_ID:
        raise NotFound(_("Card not found."), code="card_not_found")
    url = db.execute(
        update(ExternalCard)
        .where(ExternalCard.id == card_id)
        .values(clicks=ExternalCard.clicks + 1)
        .returning(ExternalCard.url)
    ).scalar()
    if url is None:
        db.rollback()
        raise NotFound(_("Card not found."), code="card_not_found")
    db.commit()
    return str(url)
