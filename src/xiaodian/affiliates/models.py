"""Tables of the affiliates domain: plans, tracked links, their clicks, lock windows, each
shop's attribution rule and every order line's touch chain.

- A plan (``affiliate_plans``) puts one product in 普通 (``open``), 定向 (``targeted``, its
  invited promoters in ``affiliate_plan_invites`` with their own rates) or 专属
  (``exclusive``, one promoter). Rates are whole percent 0..90 (CHECK).
- A link (``affiliate_links``) is a promoter's short code for a product or a whole shop.
- A click (``affiliate_clicks``) is recorded once per visitor and link per 30 minutes.
- A lock (``affiliate_locks``) ties a visitor (``u:<user id>`` signed in, ``v:<random>`` by
  the signed cookie) to the promoter of the click for a product (``product_id``) or a whole
  shop (``product_id`` 0) until ``locked_until``; an order extends it, recorded on its touch
  row (``extends_until``), so nothing is updated.
- A touch (``affiliate_order_touches``) is one order line's attribution decision, written
  when the order is created: the promoter credited (or none), the plan and rate of that
  moment, the reason, and the rule (with its version) and the candidate touches it weighed.
- A sample request (``sample_requests``, 寄样) is a creator's ask for one unit of a product
  in a plan, to their address; approved, it becomes a zero-price order (``order_id``). At
  most one request per creator and product waits for an answer (a partial unique index).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from xiaodian import clock
from xiaodian.db import Base, str_enum


class PlanKind(enum.StrEnum):
    OPEN = "open"  # 普通
    TARGETED = "targeted"  # 定向
    EXCLUSIVE = "exclusive"  # 专属


class Plan(Base):
    __tablename__ = "affiliate_plans"
    __table_args__ = (
        CheckConstraint("rate_pct >= 0 AND rate_pct <= 90", name="rate_range"),
        UniqueConstraint("product_id", "kind"),
        Index("ix_affiliate_plans_shop_id", "shop_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    kind: Mapped[PlanKind] = mapped_column(str_enum(PlanKind))
    rate_pct: Mapped[int]  # the open or exclusive rate; targeted: the invites' default
    promoter_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # exclusive only
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)


class PlanInvite(Base):
    __tablename__ = "affiliate_plan_invites"
    __table_args__ = (
        CheckConstraint("rate_pct >= 0 AND rate_pct <= 90", name="rate_range"),
        UniqueConstraint("plan_id", "promoter_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("affiliate_plans.id"))
    promoter_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    rate_pct: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class LinkKind(enum.StrEnum):
    PRODUCT = "product"  # a product click: the product window
    SHOP = "shop"  # the whole shop: the product window, for every product of the shop
    CONTENT = "content"  # a product in a video or a live room: the content window


class Link(Base):
    __tablename__ = "affiliate_links"
    __table_args__ = (UniqueConstraint("promoter_id", "shop_id", "product_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    promoter_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    product_id: Mapped[int] = mapped_column(default=0)  # 0: the whole shop
    kind: Mapped[LinkKind] = mapped_column(str_enum(LinkKind))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class Click(Base):
    __tablename__ = "affiliate_clicks"
    __table_args__ = (Index("ix_affiliate_clicks_link_visitor", "link_id", "visitor", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("affiliate_links.id"))
    visitor: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(default=clock.now)


class Lock(Base):
    __tablename__ = "affiliate_locks"
    __table_args__ = (UniqueConstraint("visitor", "shop_id", "product_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    visitor: Mapped[str] = mapped_column(String(40))
    shop_id: Mapped[int]
    product_id: Mapped[int]  # 0: the whole shop
    promoter_id: Mapped[int]
    link_id: Mapped[int] = mapped_column(ForeignKey("affiliate_links.id"))
    kind: Mapped[LinkKind] = mapped_column(str_enum(LinkKind))
    clicked_at: Mapped[datetime]
    locked_until: Mapped[datetime]


class ShopRule(Base):
    """A shop's lock windows (WeChat's defaults when it has none) and whether a promoter
    may earn on their own purchases. ``version`` counts its changes."""

    __tablename__ = "affiliate_shop_rules"

    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), primary_key=True)
    product_days: Mapped[int] = mapped_column(default=5)
    product_order_days: Mapped[int] = mapped_column(default=20)
    content_days: Mapped[int] = mapped_column(default=10)
    content_order_days: Mapped[int] = mapped_column(default=35)
    allow_self_purchase: Mapped[bool] = mapped_column(default=False)
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)


class Touch(Base):
    __tablename__ = "affiliate_order_touches"
    __table_args__ = (
        UniqueConstraint("order_id", "product_id"),
        Index("ix_affiliate_order_touches_lock_id", "lock_id", "extends_until"),
        Index("ix_affiliate_order_touches_promoter_id", "promoter_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    product_id: Mapped[int]
    shop_id: Mapped[int]
    buyer_id: Mapped[int]
    amount_fen: Mapped[int]  # the line's amount (after discounts, without shipping)
    promoter_id: Mapped[int | None]  # credited; None: nobody
    link_id: Mapped[int | None]
    lock_id: Mapped[int | None]
    plan_id: Mapped[int | None]
    rate_pct: Mapped[int] = mapped_column(default=0)
    reason: Mapped[str] = mapped_column(String(30))  # credited | no_touch | self_purchase | ...
    extends_until: Mapped[datetime | None]  # the lock as this order extends it
    rule: Mapped[dict[str, Any]] = mapped_column(JSON)  # the windows and their version
    chain: Mapped[list[Any]] = mapped_column(JSON)  # every touch weighed, with its verdict
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class CommissionStatus(enum.StrEnum):
    PENDING = "pending"  # paid, the order not settled: in promoter:pending
    RELEASED = "released"  # the order settled: in promoter:available
    VOID = "void"  # refunds before settlement took it all


class Commission(Base):
    """A payee's commission on one paid order: ``amount_fen`` is what it is now (reduced in
    proportion by refunds; ``clawed_fen`` what refunds after settlement took back)."""

    __tablename__ = "affiliate_commissions"
    __table_args__ = (
        UniqueConstraint("order_id", "promoter_id"),
        Index("ix_affiliate_commissions_promoter_id", "promoter_id", "id"),
        CheckConstraint("amount_fen >= 0 AND full_fen >= amount_fen", name="amount_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    order_no: Mapped[str] = mapped_column(String(24))
    shop_id: Mapped[int]
    promoter_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    link_id: Mapped[int | None]
    paid_fen: Mapped[int]  # the order's paid amount (the base of the proportion)
    full_fen: Mapped[int]  # the commission at payment
    amount_fen: Mapped[int]  # the commission now
    clawed_fen: Mapped[int] = mapped_column(default=0)
    refunded_fen: Mapped[int] = mapped_column(default=0)  # the order's refunds counted
    status: Mapped[CommissionStatus] = mapped_column(
        str_enum(CommissionStatus), default=CommissionStatus.PENDING
    )
    expected_available_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    released_at: Mapped[datetime | None]


class ShowcaseItem(Base):
    """A product a creator picked into their showcase (橱窗), with the creator's tracked link
    for it, so a sale from the showcase credits them under the product's plan."""

    __tablename__ = "showcase_items"
    __table_args__ = (
        UniqueConstraint("creator_id", "product_id"),
        Index("ix_showcase_items_creator", "creator_id", "position"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    creator_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    link_id: Mapped[int] = mapped_column(ForeignKey("affiliate_links.id"))
    position: Mapped[int] = mapped_column(default=0)
    added_at: Mapped[datetime] = mapped_column(default=clock.now)


class ExternalCard(Base):
    """A product sold on another platform that a creator features (种草): shown as a card
    that records the click and redirects to the stored address; it never enters the cart."""

    __tablename__ = "external_cards"
    __table_args__ = (Index("ix_external_cards_creator", "creator_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    creator_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(60))
    url: Mapped[str] = mapped_column(String(500))
    host: Mapped[str] = mapped_column(String(120))
    price_fen: Mapped[int | None]
    clicks: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class SharerInvite(Base):
    """A shop's invitation to become its sharer (分享员): to one account (``user_id``), or an
    invite QR code anyone may accept (``user_id`` NULL), valid 15 days."""

    __tablename__ = "sharer_invites"
    __table_args__ = (
        UniqueConstraint("code"),
        Index("ix_sharer_invites_user", "user_id", "expires_at"),
        Index("ix_sharer_invites_shop", "shop_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]  # an account's invite, once accepted
    revoked_at: Mapped[datetime | None]


class ShopSharer(Base):
    """A sharer bound to a shop, from ``bound_at`` until ``unbound_at`` (history kept)."""

    __tablename__ = "shop_sharers"
    __table_args__ = (
        Index(
            "uq_shop_sharers_bound",
            "shop_id",
            "user_id",
            unique=True,
            sqlite_where=text("unbound_at IS NULL"),
            postgresql_where=text("unbound_at IS NULL"),
        ),
        Index("ix_shop_sharers_user", "user_id", "unbound_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    invite_id: Mapped[int | None] = mapped_column(ForeignKey("sharer_invites.id"))
    bound_at: Mapped[datetime] = mapped_column(default=clock.now)
    unbound_at: Mapped[datetime | None]
    unbound_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Agency(Base):
    """An agency (机构/团长): an account that manages creators and takes ``share_pct`` of
    their commission (whole percent, 0-50)."""

    __tablename__ = "agencies"
    __table_args__ = (
        UniqueConstraint("owner_id"),
        CheckConstraint("share_pct >= 0 AND share_pct <= 50", name="share_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(40))
    share_pct: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class AgencyMember(Base):
    """A creator of an agency: invited, then a member from ``joined_at`` until ``left_at``;
    a creator belongs to one agency at a time."""

    __tablename__ = "agency_members"
    __table_args__ = (
        Index(
            "uq_agency_members_current",
            "creator_id",
            unique=True,
            sqlite_where=text("joined_at IS NOT NULL AND left_at IS NULL"),
            postgresql_where=text("joined_at IS NOT NULL AND left_at IS NULL"),
        ),
        Index("ix_agency_members_agency", "agency_id", "left_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id", ondelete="CASCADE"))
    creator_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    invited_at: Mapped[datetime] = mapped_column(default=clock.now)
    joined_at: Mapped[datetime | None]
    left_at: Mapped[datetime | None]


class SampleStatus(enum.StrEnum):
    REQUESTED = "requested"  # waits for the shop's answer
    APPROVED = "approved"  # a zero-price order was made (``order_id``)
    DECLINED = "declined"  # with the shop's reason


class SampleRequest(Base):
    """A creator's request for a sample of a product (寄样): the funnel's later stages
    (shipped, received, first sale) are read from the order and the touches."""

    __tablename__ = "sample_requests"
    __table_args__ = (
        Index("ix_sample_requests_shop", "shop_id", "id"),
        Index("ix_sample_requests_creator", "creator_id", "id"),
        Index(
            "uq_sample_requests_open",
            "creator_id",
            "product_id",
            unique=True,
            sqlite_where=text("status = 'requested'"),
            postgresql_where=text("status = 'requested'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    sku_id: Mapped[int]
    creator_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[dict[str, Any]] = mapped_column(JSON)  # the creator's, as at the request
    status: Mapped[SampleStatus] = mapped_column(
        str_enum(SampleStatus), default=SampleStatus.REQUESTED
    )
    reason: Mapped[str] = mapped_column(String(200), default="")  # a decline's
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    decided_by: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    decided_at: Mapped[datetime | None]
