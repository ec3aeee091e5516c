"""Tables of the campaigns: coupon templates, who claimed how many, the coupons themselves.

- A template (``coupon_templates``) is what a merchant (``shop_id``) or the platform
  (``shop_id`` NULL) offers: its kind, its level, its floors checked when it is written
  (``rules.py``), how many may be issued, to each buyer how many, when, for what. ``issued``
  and ``committed_fen`` move only by the claim's one conditional UPDATE, and the CHECKs
  below hold them inside ``quantity`` and ``budget_fen`` whatever a writer does.
- ``coupon_claimers`` counts each buyer's claims of a template (the per-buyer limit under
  concurrency: one conditional upsert).
- A coupon (``coupons``) is one claimed copy, valid from ``valid_from`` to ``expires_at``.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from xiaodian import clock
from xiaodian.db import Base, str_enum


class CouponKind(enum.StrEnum):
    THRESHOLD = "threshold"  # 满减: off_fen off from min_spend_fen
    PERCENT = "percent"  # 折扣: pay rate_percent % of the price, at most cap_fen off
    NO_THRESHOLD = "no_threshold"  # 无门槛: off_fen off, whatever the spend


class CouponLevel(enum.StrEnum):
    PRODUCT = "product"  # a shop's coupon for listed products (商品券)
    SHOP = "shop"  # a shop's coupon for the shop's products in scope (店铺券)
    PLATFORM = "platform"  # the platform's, funded by it (平台券)


class CouponScope(enum.StrEnum):
    ALL = "all"
    CATEGORIES = "categories"
    PRODUCTS = "products"


class TemplateStatus(enum.StrEnum):
    ACTIVE = "active"
    STOPPED = "stopped"  # no more claims; coupons already claimed stay usable


class CouponStatus(enum.StrEnum):
    UNUSED = "unused"
    USED = "used"


class CouponTemplate(Base):
    __tablename__ = "coupon_templates"
    __table_args__ = (
        Index("ix_coupon_templates_shop_id", "shop_id", "id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("issued >= 0 AND issued <= quantity", name="issued_within_quantity"),
        CheckConstraint("per_buyer_limit > 0", name="limit_positive"),
        CheckConstraint("off_fen >= 0 AND off_fen <= 20000", name="off_within_floor"),
        CheckConstraint("rate_percent >= 20 AND rate_percent <= 100", name="rate_within_floor"),
        CheckConstraint("min_spend_fen >= 0", name="min_spend_nonnegative"),
        CheckConstraint("cap_fen >= 0", name="cap_nonnegative"),
        CheckConstraint("committed_fen >= 0", name="committed_nonnegative"),
        CheckConstraint(
            "budget_fen IS NULL OR committed_fen <= budget_fen", name="committed_within_budget"
        ),
        CheckConstraint("valid_days IS NULL OR valid_days > 0", name="valid_days_positive"),
        CheckConstraint("ends_at > starts_at", name="window_ordered"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id"))  # None: platform
    name: Mapped[str] = mapped_column(String(60))
    kind: Mapped[CouponKind] = mapped_column(str_enum(CouponKind))
    level: Mapped[CouponLevel] = mapped_column(str_enum(CouponLevel))
    off_fen: Mapped[int] = mapped_column(default=0)  # threshold and no-threshold kinds
    rate_percent: Mapped[int] = mapped_column(default=100)  # percent kind: 80 is 8折
    cap_fen: Mapped[int] = mapped_column(default=0)  # percent kind: the most it takes off
    min_spend_fen: Mapped[int] = mapped_column(default=0)
    scope: Mapped[CouponScope] = mapped_column(str_enum(CouponScope), default=CouponScope.ALL)
    scope_ids: Mapped[list[int]] = mapped_column(JSON, default=list)  # categories or products
    quantity: Mapped[int]
    issued: Mapped[int] = mapped_column(default=0)
    per_buyer_limit: Mapped[int] = mapped_column(default=1)
    budget_fen: Mapped[int | None]  # None: no budget beyond the quantity
    committed_fen: Mapped[int] = mapped_column(default=0)  # the issued coupons' most value
    starts_at: Mapped[datetime]  # claimable from
    ends_at: Mapped[datetime]  # claimable until, and usable until unless valid_days
    valid_days: Mapped[int | None]  # usable for N days from the claim (else the window)
    status: Mapped[TemplateStatus] = mapped_column(
        str_enum(TemplateStatus), default=TemplateStatus.ACTIVE
    )
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    # who may claim (``rules.AUDIENCES``); a live-room coupon's room (claimable while live)
    audience: Mapped[str] = mapped_column(String(12), default="everyone", server_default="everyone")
    room_id: Mapped[int | None] = mapped_column(index=True)


class CouponClaimer(Base):
    """How many coupons of a template one buyer claimed: the per-buyer limit."""

    __tablename__ = "coupon_claimers"
    __table_args__ = (
        UniqueConstraint("template_id", "buyer_id"),
        CheckConstraint("claimed > 0", name="claimed_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("coupon_templates.id"))
    buyer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    claimed: Mapped[int]


class Coupon(Base):
    """One claimed coupon."""

    __tablename__ = "coupons"
    __table_args__ = (
        Index("ix_coupons_buyer_status", "buyer_id", "status"),
        Index("ix_coupons_template_id", "template_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("coupon_templates.id"))
    buyer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    status: Mapped[CouponStatus] = mapped_column(
        str_enum(CouponStatus), default=CouponStatus.UNUSED
    )
    claimed_at: Mapped[datetime]
    valid_from: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class CouponRedemption(Base):
    """A coupon used on an order (a platform coupon spread over shops is on several):
    what it took off the order. ``returned_at``: the orders were all refunded and the
    coupon given back."""

    __tablename__ = "coupon_redemptions"
    __table_args__ = (
        UniqueConstraint("coupon_id", "order_id"),
        Index("ix_coupon_redemptions_order_id", "order_id"),
        CheckConstraint("discount_fen >= 0", name="discount_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    coupon_id: Mapped[int] = mapped_column(ForeignKey("coupons.id"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    buyer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    discount_fen: Mapped[int]
    at: Mapped[datetime]
    returned_at: Mapped[datetime | None]


class DiscountStatus(enum.StrEnum):
    ACTIVE = "active"
    CANCELLED = "cancelled"  # ended early by the shop


class Discount(Base):
    """A limited-time discount (限时折扣) of a shop: listed SKUs at a percentage or a set
    price between two times (``discounts.py``)."""

    __tablename__ = "discounts"
    __table_args__ = (
        Index("ix_discounts_shop_id", "shop_id", "id"),
        CheckConstraint("ends_at > starts_at", name="window_ordered"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    name: Mapped[str] = mapped_column(String(40))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    status: Mapped[DiscountStatus] = mapped_column(
        str_enum(DiscountStatus), default=DiscountStatus.ACTIVE
    )
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    cancelled_at: Mapped[datetime | None]


class DiscountItem(Base):
    """One SKU of a discount: pay ``rate_percent`` % of its price (80 is 8折), or the set
    ``price_fen``. The window is copied from the discount (and cut short when it is
    cancelled), so the price rule and the one-discount-per-SKU check read this table only."""

    __tablename__ = "discount_items"
    __table_args__ = (
        Index("ix_discount_items_sku", "sku_id", "ends_at"),
        UniqueConstraint("discount_id", "sku_id"),
        CheckConstraint("(rate_percent IS NULL) <> (price_fen IS NULL)", name="rate_or_price"),
        CheckConstraint(
            "rate_percent IS NULL OR (rate_percent >= 20 AND rate_percent <= 99)",
            name="rate_within_floor",
        ),
        CheckConstraint("price_fen IS NULL OR price_fen > 0", name="price_positive"),
        CheckConstraint("ends_at > starts_at", name="window_ordered"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    discount_id: Mapped[int] = mapped_column(ForeignKey("discounts.id"))
    shop_id: Mapped[int]
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"))
    rate_percent: Mapped[int | None]
    price_fen: Mapped[int | None]
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]


class GroupOfferStatus(enum.StrEnum):
    ACTIVE = "active"
    STOPPED = "stopped"


class GroupOffer(Base):
    """A group price (拼团) for one SKU: ``size`` buyers (2-10) must pay within ``hours`` of
    the group's opening; each buys at most ``per_buyer_limit`` units."""

    __tablename__ = "group_offers"
    __table_args__ = (
        Index("ix_group_offers_product", "product_id", "status"),
        CheckConstraint("size >= 2 AND size <= 10", name="size_range"),
        CheckConstraint("price_fen > 0", name="price_positive"),
        CheckConstraint("hours >= 1 AND hours <= 72", name="hours_range"),
        CheckConstraint("per_buyer_limit >= 1", name="limit_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    product_id: Mapped[int]
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"))
    price_fen: Mapped[int]
    size: Mapped[int]
    hours: Mapped[int] = mapped_column(default=24)
    per_buyer_limit: Mapped[int] = mapped_column(default=1)
    status: Mapped[GroupOfferStatus] = mapped_column(
        str_enum(GroupOfferStatus), default=GroupOfferStatus.ACTIVE
    )
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class GroupStatus(enum.StrEnum):
    OPEN = "open"  # forming: members pay until it fills or its time runs out
    SUCCEEDED = "succeeded"  # filled: the orders go to the merchant to ship
    EXPIRED = "expired"  # time ran out first: every payment refunded


class Group(Base):
    """One group of an offer, opened by its first buyer. ``paid`` moves only by the paid
    listener's conditional UPDATE (``paid < size`` in its WHERE): the last place goes to
    exactly one payer."""

    __tablename__ = "groups"
    __table_args__ = (
        Index("ix_groups_due", "status", "expires_at"),
        Index("ix_groups_offer", "offer_id", "status"),
        CheckConstraint("paid >= 0 AND paid <= size", name="paid_within_size"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    offer_id: Mapped[int] = mapped_column(ForeignKey("group_offers.id"))
    leader_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    size: Mapped[int]
    paid: Mapped[int] = mapped_column(default=0)
    status: Mapped[GroupStatus] = mapped_column(str_enum(GroupStatus), default=GroupStatus.OPEN)
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    finished_at: Mapped[datetime | None]


class MemberStatus(enum.StrEnum):
    PENDING = "pending"  # ordered, not paid
    PAID = "paid"  # holds a place
    LATE = "late"  # paid after the group filled or expired: to be refunded at once
    REFUNDING = "refunding"  # the refund is requested
    CANCELLED = "cancelled"  # the order was never paid


class GroupMember(Base):
    __tablename__ = "group_members"
    __table_args__ = (
        UniqueConstraint("group_id", "buyer_id"),
        Index("ix_group_members_status", "status", "group_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"))
    buyer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), unique=True)
    order_no: Mapped[str] = mapped_column(String(24))
    offer_id: Mapped[int] = mapped_column(index=True)  # the per-buyer limit counts by offer
    quantity: Mapped[int] = mapped_column(default=1)
    status: Mapped[MemberStatus] = mapped_column(
        str_enum(MemberStatus), default=MemberStatus.PENDING
    )
    joined_at: Mapped[datetime] = mapped_column(default=clock.now)
    paid_at: Mapped[datetime | None]
