"""Catalog management: categories, products (SPU) and their SKUs, review, stock adjustments.

Every public function that writes is one transaction (it commits); reads do not. Merchant
functions take the shop id from the URL and check ``actor.require_shop`` first, then that the
product belongs to that shop: another shop's staff see "not found", never the product.

Status machine (``TRANSITIONS``, one table)::

    draft ──submit──► under_review ──approve──► on_sale ◄──put_on_shelf── off_shelf
    rejected ──submit──┘      │  └──reject──► rejected        └──take_off_shelf──┘
    under_review ──withdraw──► draft
    on_sale / off_shelf ──edit of a key field──► under_review

Key fields are what a reviewer approved: title, description, category, images and specs.
Editing one on a listed (on_sale or off_shelf) product sends it back to review and off the
shelf until approved, the simple form of WeChat Shop's rule; price, stock, SKU codes and
weights are not reviewed and change freely. Submitting needs at least one image and one
active SKU; stock is not required, because review is about the listing's content and many
merchants get a listing approved before the goods arrive (it then shows as sold out).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from xiaodian import clock, media
from xiaodian.actor import Actor
from xiaodian.catalog import screening
from xiaodian.catalog.models import Product as Product  # re-exported: other domains use this
from xiaodian.catalog.models import (
    ProductEvent,
    ProductImage,
    ProductSpec,
    Sku,
    StockMovement,
)
from xiaodian.catalog.models import ProductStatus as ProductStatus  # re-exported, as Product
from xiaodian.categories import service as categories_service
from xiaodian.categories.service import Category
from xiaodian.errors import Conflict, DomainError, IllegalTransition, InvalidInput, NotFound, _

S = ProductStatus

TITLE_MAX = 60
DESCRIPTION_MAX = 5000
MAX_IMAGES = 9
MAX_SPECS = 3
MAX_SPEC_VALUES = 20
MAX_SKUS = 400
SPEC_NAME_MAX = 20
SPEC_VALUE_MAX = 30
SKU_CODE_MAX = 64
REASON_MAX = 200
PRICE_MAX_FEN = 100_000_000_00  # ¥100,000,000: a typo guard, not a business rule
STOCK_MAX = 10_000_000

# action -> (states it may start from, state it leads to). The one table of the machine.
TRANSITIONS: dict[str, tuple[frozenset[ProductStatus], ProductStatus]] = {
    "submit": (frozenset({S.DRAFT, S.REJECTED}), S.UNDER_REVIEW),
    "withdraw": (frozenset({S.UNDER_REVIEW}), S.DRAFT),
    "approve": (frozenset({S.UNDER_REVIEW}), S.ON_SALE),
    "reject": (frozenset({S.UNDER_REVIEW}), S.REJECTED),
    "take_off_shelf": (frozenset({S.ON_SALE}), S.OFF_SHELF),
    "put_on_shelf": (frozenset({S.OFF_SHELF}), S.ON_SALE),
    "edit_listed": (frozenset({S.ON_SALE, S.OFF_SHELF}), S.UNDER_REVIEW),
}

# What the merchant may do from each state (for buttons in the console).
MERCHANT_ACTIONS = ("submit", "withdraw", "take_off_shelf", "put_on_shelf")


def allowed_actions(status: ProductStatus) -> list[str]:
    return [a for a in MERCHANT_ACTIONS if status in TRANSITIONS[a][0]]


# ---------------------------------------------------------------------------------------
# Inputs (built by the routers from their Pydantic schemas or form fields)


@dataclass(frozen=True)
class SpecAxis:
    """One spec axis: 颜色 with values [红, 蓝]."""

    name: str
    values: list[str]


@dataclass(frozen=True)
class SkuEdit:
    """New values for the SKU with ``spec_key``; ``stock`` None leaves stock alone, a number
    sets the sellable stock to it (the difference is logged as a manual movement)."""

    spec_key: str
    price_fen: int
    list_price_fen: int | None = None
    code: str = ""
    weight_g: int = 0
    stock: int | None = None
    is_active: bool = True


@dataclass
class BulkResult:
    changed: list[int] = field(default_factory=list)
    # (product id, error) for each product that could not change
    failed: list[tuple[int, DomainError]] = field(default_factory=list)


@dataclass(frozen=True)
class ProductPage:
    items: list[Product]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


# ---------------------------------------------------------------------------------------
# Reads other domains use (no permission check: they decide what to show)


def get_product(db: Session, product_id: int) -> Product:
    """A product in any status (with specs, images and SKUs); NotFound if there is none."""
    product = db.get(Product, product_id)
    if product is None:
        raise NotFound(_("Product not found."), code="product_not_found")
    return product


def get_products(db: Session, product_ids: Iterable[int]) -> dict[int, Product]:
    """Products by id, in any status, in one query (missing ids are left out)."""
    ids = set(product_ids)
    if not ids:
        return {}
    rows = db.scalars(select(Product).where(Product.id.in_(ids)))
    return {p.id: p for p in rows}


def get_sku(db: Session, sku_id: int) -> Sku:
    sku = db.get(Sku, sku_id)
    if sku is None:
        raise NotFound(_("SKU not found."), code="sku_not_found")
    return sku


def product_events(db: Session, product_id: int) -> list[ProductEvent]:
    """The status history of a product, oldest first (callers check who may see it)."""
    return list(
        db.scalars(
            select(ProductEvent)
            .where(ProductEvent.product_id == product_id)
            .order_by(ProductEvent.at, ProductEvent.id)
        )
    )


# ---------------------------------------------------------------------------------------
# Merchant: reading


def shop_product(db: Session, actor: Actor, shop_id: int, product_id: int) -> Product:
    """A product of ``shop_id`` for its staff; NotFound for anyone else."""
    actor.require_shop(shop_id)
    product = db.get(Product, product_id)
    if product is None or product.shop_id != shop_id:
        raise NotFound(_("Product not found."), code="product_not_found")
    return product


def list_shop_products(
    db: Session,
    actor: Actor,
    shop_id: int,
    *,
    status: ProductStatus | None = None,
    q: str = "",
    page: int = 1,
    per_page: int = 20,
) -> ProductPage:
    """The shop's products, newest first, filtered by status and a title search.

    A constant number of queries whatever the page size (specs, images, SKUs are selectin).
    """
    actor.require_shop(shop_id)
    page = max(1, page)
    per_page = min(max(1, per_page), 100)
    where = [Product.shop_id == shop_id]
    if status is not None:
        where.append(Product.status == status)
    q = q.strip()
    if q:
        where.append(Product.title.icontains(q, autoescape=True))
    total = db.scalar(select(func.count()).select_from(Product).where(*where)) or 0
    items = list(
        db.scalars(
            select(Product)
            .where(*where)
            .order_by(Product.created_at.desc(), Product.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    )
    return ProductPage(items=items, total=total, page=page, per_page=per_page)


def status_counts(db: Session, actor: Actor, shop_id: int) -> dict[str, int]:
    actor.require_shop(shop_id)
    rows = db.execute(
        select(Product.status, func.count())
        .where(Product.shop_id == shop_id)
        .group_by(Product.status)
    )
    return {str(status): int(n) for status, n in rows}


def stock_log(
    db: Session, actor: Actor, shop_id: int, product_id: int, *, limit: int = 200
) -> list[tuple[StockMovement, Sku]]:
    """The product's stock movements, newest first, with their SKU."""
    shop_product(db, actor, shop_id, product_id)
    rows = db.execute(
        select(StockMovement, Sku)
        .join(Sku, Sku.id == StockMovement.sku_id)
        .where(Sku.product_id == product_id)
        .order_by(StockMovement.at.desc(), StockMovement.id.desc())
        .limit(limit)
    )
    return [(m, s) for m, s in rows]


# ---------------------------------------------------------------------------------------
# Validation helpers (all before any write)


def _clean_title(title: str) -> str:
    title = " ".join((title or "").split())
    if not title:
        raise InvalidInput(_("Enter a title."), code="title_required")
    if len(title) > TITLE_MAX:
        raise InvalidInput(
            _("The title is too long (at most %(n)s characters)."), code="title_too_long", n=60
        )
    return title


def _clean_description(text: str) -> str:
    text = (text or "").strip()
    if len(text) > DESCRIPTION_MAX:
        raise InvalidInput(
            _("The description is too long (at most %(n)s characters)."),
            code="description_too_long",
            n=DESCRIPTION_MAX,
        )
    return text


def _leaf_category(db: Session, category_id: int) -> Category:
    category = categories_service.find(db, category_id)
    if category is None:
        raise InvalidInput(_("Choose a category."), code="category_invalid")
    if category.parent_id is None:
        raise InvalidInput(
            _("Choose a second-level category, not a top-level one."), code="category_not_leaf"
        )
    return category


def _check_purchase_limit(value: int | None) -> int | None:
    if value is not None and not 1 <= value <= 9999:
        raise InvalidInput(
            _("The purchase limit must be between 1 and 9999, or empty for none."),
            code="purchase_limit_invalid",
        )
    return value


def _check_return_days(value: int) -> int:
    if not 0 <= value <= 90:
        raise InvalidInput(_("Return days must be between 0 and 90."), code="return_days_invalid")
    return value


def _check_price(price_fen: int, list_price_fen: int | None) -> None:
    if not 0 < price_fen <= PRICE_MAX_FEN:
        raise InvalidInput(_("The price must be more than zero."), code="price_invalid")
    if list_price_fen is not None and not price_fen <= list_price_fen <= PRICE_MAX_FEN:
        raise InvalidInput(
            _("The list price must be empty or at least the price."), code="list_price_invalid"
        )


def _check_stock(stock: int) -> int:
    if not 0 <= stock <= STOCK_MAX:
        raise InvalidInput(
            _("Stock must be a whole number from 0 to %(n)s."), code="stock_invalid", n=STOCK_MAX
        )
    return stock


def clean_specs(specs: Sequence[SpecAxis]) -> list[SpecAxis]:
    """Trim and check spec axes: at most 3, each with 1-20 distinct values, no "/"."""
    cleaned: list[SpecAxis] = []
    names: set[str] = set()
    for axis in specs:
        name = (axis.name or "").strip()
        values = list(dict.fromkeys(v.strip() for v in axis.values if v and v.strip()))
        if not name and not values:
            continue  # an empty row of the form
        if not name:
            raise InvalidInput(_("Every spec needs a name."), code="spec_name_required")
        if len(name) > SPEC_NAME_MAX or "/" in name:
            raise InvalidInput(
                _("The spec name %(name)s is too long or contains “/”."),
                code="spec_name_invalid",
                name=name,
            )
        if name in names:
            raise InvalidInput(
                _("The spec %(name)s appears twice."), code="spec_duplicate", name=name
            )
        if not values:
            raise InvalidInput(
                _("The spec %(name)s needs at least one value."),
                code="spec_values_required",
                name=name,
            )
        if len(values) > MAX_SPEC_VALUES:
            raise InvalidInput(
                _("A spec can have at most %(n)s values."), code="spec_too_many_values", n=20
            )
        for value in values:
            if len(value) > SPEC_VALUE_MAX or "/" in value:
                raise InvalidInput(
                    _("The spec value %(value)s is too long or contains “/”."),
                    code="spec_value_invalid",
                    value=value,
                )
        names.add(name)
        cleaned.append(SpecAxis(name=name, values=values))
    if len(cleaned) > MAX_SPECS:
        raise InvalidInput(_("A product can have at most 3 specs."), code="spec_too_many")
    combos = 1
    for axis in cleaned:
        combos *= len(axis.values)
    if combos > MAX_SKUS:
        raise InvalidInput(
            _("These specs make %(n)s SKUs; at most %(max)s are allowed."),
            code="too_many_skus",
            n=combos,
            max=MAX_SKUS,
        )
    return cleaned


def combinations(specs: Sequence[SpecAxis]) -> list[dict[str, str]]:
    """The cartesian product of the axes as {axis: value} dicts ([{}] with no axes)."""
    names = [a.name for a in specs]
    return [
        dict(zip(names, combo, strict=True))
        for combo in itertools.product(*(a.values for a in specs))
    ]


def spec_key(values: Mapping[str, Any], specs: Sequence[SpecAxis]) -> str:
    return "/".join(str(values[a.name]) for a in specs)


# ---------------------------------------------------------------------------------------
# Internal bookkeeping


def _refresh_min_price(product: Product) -> None:
    prices = [s.price_fen for s in product.skus if s.is_active]
    product.min_price_fen = min(prices) if prices else 0


def _refresh_cover(product: Product) -> None:
    for pos, image in enumerate(product.images):
        image.position = pos
    product.cover_path = product.images[0].path if product.images else None


def _transition(
    db: Session, actor: Actor, product: Product, action: str, note: str | None = None
) -> None:
    sources, target = TRANSITIONS[action]
    if product.status not in sources:
        raise IllegalTransition(
            _("This product cannot be changed from “%(status)s” this way."),
            code="illegal_transition",
            status=str(product.status),
        )
    previous = product.status
    product.status = target
    if target == S.ON_SALE and product.published_at is None:
        product.published_at = clock.now()
    db.add(
        ProductEvent(
            product_id=product.id,
            actor_id=actor.user_id,
            from_status=str(previous),
            to_status=str(target),
            note=note,
            at=clock.now(),
        )
    )


def _rescreen(product: Product) -> None:
    product.screening_hits = screening.find_hits(product.title, product.description)


def _key_fields_changed(db: Session, actor: Actor, product: Product, what: str) -> None:
    """A reviewed field changed: a listed product goes back to review (and off the shelf)."""
    if product.status in TRANSITIONS["edit_listed"][0]:
        _rescreen(product)
        _transition(db, actor, product, "edit_listed", note=f"edited: {what}")
    elif product.status == S.UNDER_REVIEW:
        _rescreen(product)


def _check_codes_unique(
    db: Session, shop_id: int, product_id: int | None, codes: list[str]
) -> None:
    codes = [c for c in codes if c]
    dupes = {c for c in codes if codes.count(c) > 1}
    if dupes:
        raise Conflict(
            _("The SKU code %(sku_code)s is used twice."),
            code="sku_code_taken",
            sku_code=min(dupes),
        )
    if not codes:
        return
    query = (
        select(Sku.code)
        .join(Product, Product.id == Sku.product_id)
        .where(Product.shop_id == shop_id, Sku.code.in_(codes))
    )
    if product_id is not None:
        query = query.where(Sku.product_id != product_id)
    taken = db.scalar(query.limit(1))
    if taken:
        raise Conflict(
            _("The SKU code %(sku_code)s is already used in this shop."),
            code="sku_code_taken",
            sku_code=taken,
        )


def _log_stock(
    db: Session, actor: Actor, sku: Sku, delta: int, reason: str, kind: str = "manual"
) -> StockMovement:
    movement = StockMovement(
        sku_id=sku.id, kind=kind, delta=delta, reason=reason, actor_id=actor.user_id, at=clock.now()
    )
    db.add(movement)
    return movement


def _move_stock(db: Session, sku_id: int, delta: int) -> bool:
    """Atomically add ``delta`` to on-hand and received stock unless on-hand would go < 0."""
    result = db.execute(
        update(Sku)
        .where(Sku.id == sku_id, Sku.stock_on_hand + delta >= 0)
        .values(stock_on_hand=Sku.stock_on_hand + delta, stock_received=Sku.stock_received + delta)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


# Reasons the system writes into the stock log (translated when shown).
INITIAL_STOCK = _("Initial stock")
SET_IN_SKU_TABLE = _("Set in the SKU table")


# ---------------------------------------------------------------------------------------
# Merchant: creating and editing


def create_product(
    db: Session,
    actor: Actor,
    shop_id: int,
    *,
    title: str,
    category_id: int,
    price_fen: int,
    description: str = "",
    list_price_fen: int | None = None,
    stock: int = 0,
    weight_g: int = 0,
    specs: Sequence[SpecAxis] = (),
    purchase_limit: int | None = None,
    return_days: int = 7,
) -> Product:
    """A draft product; every SKU of its specs starts with this price and stock."""
    actor.require_shop(shop_id)
    title = _clean_title(title)
    description = _clean_description(description)
    _leaf_category(db, category_id)
    _check_price(price_fen, list_price_fen)
    _check_stock(stock)
    _check_weight(weight_g)
    _check_purchase_limit(purchase_limit)
    _check_return_days(return_days)
    axes = clean_specs(specs)
    now = clock.now()
    product = Product(
        shop_id=shop_id,
        category_id=category_id,
        title=title,
        description=description,
        status=S.DRAFT,
        screening_hits=[],
        purchase_limit=purchase_limit,
        return_days=return_days,
        min_price_fen=price_fen,
        sales_count=0,
        created_at=now,
        updated_at=now,
    )
    product.specs = [
        ProductSpec(name=a.name, values=list(a.values), position=i) for i, a in enumerate(axes)
    ]
    product.images = []
    product.skus = [
        Sku(
            spec_values=combo,
            spec_key=spec_key(combo, axes),
            code="",
            price_fen=price_fen,
            list_price_fen=list_price_fen,
            weight_g=weight_g,
            stock_on_hand=stock,
            stock_received=stock,
            stock_reserved=0,
            stock_sold=0,
            is_active=True,
        )
        for combo in combinations(axes)
    ]
    db.add(product)
    db.flush()
    if stock:
        for sku in product.skus:
            _log_stock(db, actor, sku, stock, INITIAL_STOCK)
    db.add(
        ProductEvent(
            product_id=product.id,
            actor_id=actor.user_id,
            from_status=None,
            to_status=str(S.DRAFT),
            note="created",
            at=now,
        )
    )
    db.commit()
    return product


def _check_weight(weight_g: int) -> int:
    if not 0 <= weight_g <= 1_000_000:
        raise InvalidInput(
            _("The weight must be between 0 and 1000000 grams."), code="weight_invalid"
        )
    return weight_g


EDITABLE_FIELDS = frozenset(
    {"title", "description", "category_id", "purchase_limit", "return_days"}
)
KEY_FIELDS = frozenset({"title", "description", "category_id"})


def update_product(
    db: Session, actor: Actor, shop_id: int, product_id: int, changes: Mapping[str, Any]
) -> Product:
    """Change the product's own fields (only those given). Key-field edits of a listed
    product send it back to review."""
    product = shop_product(db, actor, shop_id, product_id)
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise InvalidInput(
            _("Unknown field: %(name)s."), code="unknown_field", name=sorted(unknown)[0]
        )
    values: dict[str, Any] = {}
    if "title" in changes:
        values["title"] = _clean_title(changes["title"])
    if "description" in changes:
        values["description"] = _clean_description(changes["description"] or "")
    if "category_id" in changes:
        values["category_id"] = _leaf_category(db, changes["category_id"]).id
    if "purchase_limit" in changes:
        values["purchase_limit"] = _check_purchase_limit(changes["purchase_limit"])
    if "return_days" in changes:
        values["return_days"] = _check_return_days(changes["return_days"])
    changed_keys = [k for k, v in values.items() if getattr(product, k) != v]
    for key in changed_keys:
        setattr(product, key, values[key])
    key_changes = [k for k in changed_keys if k in KEY_FIELDS]
    if key_changes:
        _key_fields_changed(db, actor, product, ", ".join(sorted(key_changes)))
    if changed_keys:
        product.updated_at = clock.now()
    db.commit()
    return product


def _best_template(combo: Mapping[str, str], skus: Sequence[Sku]) -> Sku | None:
    """The existing active SKU sharing the most spec values with ``combo`` (for its price)."""
    best: Sku | None = None
    best_score = -1
    for sku in skus:
        if not sku.is_active:
            continue
        score = sum(1 for k, v in combo.items() if sku.spec_values.get(k) == v)
        if score > best_score or (
            score == best_score and best is not None and sku.price_fen < best.price_fen
        ):
            best, best_score = sku, score
    return best


def set_specs(
    db: Session,
    actor: Actor,
    shop_id: int,
    product_id: int,
    specs: Sequence[SpecAxis],
    *,
    default_price_fen: int | None = None,
) -> Product:
    """Replace the spec axes and regenerate the SKUs from their cartesian product.

    SKUs whose spec_key still exists are kept as they are (price, stock, code); the others
    are deactivated, never deleted (orders refer to them). New combinations copy the
    price, list price and weight of the most similar existing SKU, or ``default_price_fen``.
    """
    product = shop_product(db, actor, shop_id, product_id)
    axes = clean_specs(specs)
    current = [(s.name, list(s.values)) for s in product.specs]
    if current == [(a.name, list(a.values)) for a in axes]:
        return product
    if default_price_fen is not None:
        _check_price(default_price_fen, None)
    by_key = {s.spec_key: s for s in product.skus}
    combos = combinations(axes)
    wanted = {spec_key(c, axes) for c in combos}
    new_skus: list[Sku] = []
    revived: list[tuple[Sku, dict[str, str]]] = []
    for combo in combos:
        key = spec_key(combo, axes)
        existing = by_key.get(key)
        if existing is not None:
            revived.append((existing, combo))
            continue
        template = _best_template(combo, product.skus)
        price = template.price_fen if template else default_price_fen
        if price is None:
            raise InvalidInput(_("Enter a price for the new SKUs."), code="price_required")
        new_skus.append(
            Sku(
                spec_values=combo,
                spec_key=key,
                code="",
                price_fen=price,
                list_price_fen=template.list_price_fen if template else None,
                weight_g=template.weight_g if template else 0,
                stock_on_hand=0,
                stock_received=0,
                stock_reserved=0,
                stock_sold=0,
                is_active=True,
            )
        )
    # Everything is checked: now change rows.
    for sku, combo in revived:
        sku.spec_values = combo
        sku.is_active = True
    for sku in product.skus:
        if sku.spec_key not in wanted:
            sku.is_active = False
    product.skus.extend(new_skus)
    product.specs = [
        ProductSpec(name=a.name, values=list(a.values), position=i) for i, a in enumerate(axes)
    ]
    _refresh_min_price(product)
    product.updated_at = clock.now()
    _key_fields_changed(db, actor, product, "specs")
    db.commit()
    return product


def current_spec_keys(product: Product) -> set[str]:
    axes = [SpecAxis(name=s.name, values=list(s.values)) for s in product.specs]
    return {spec_key(c, axes) for c in combinations(axes)}


def update_skus(
    db: Session, actor: Actor, shop_id: int, product_id: int, edits: Sequence[SkuEdit]
) -> Product:
    """Set price, list price, code, weight, stock and active flag of SKUs by spec_key.

    Not reviewed: a listed product stays listed. A stock number sets the sellable stock;
    the difference is logged as a manual stock movement.
    """
    product = shop_product(db, actor, shop_id, product_id)
    by_key = {s.spec_key: s for s in product.skus}
    valid_keys = current_spec_keys(product)
    seen: set[str] = set()
    for edit in edits:
        if edit.spec_key not in by_key or edit.spec_key in seen:
            raise InvalidInput(
                _("Unknown SKU: %(key)s."), code="sku_unknown", key=edit.spec_key or "-"
            )
        seen.add(edit.spec_key)
        _check_price(edit.price_fen, edit.list_price_fen)
        _check_weight(edit.weight_g)
        if edit.stock is not None:
            _check_stock(edit.stock)
        if len(edit.code.strip()) > SKU_CODE_MAX:
            raise InvalidInput(_("The SKU code is too long."), code="sku_code_invalid")
        if edit.is_active and edit.spec_key not in valid_keys:
            raise InvalidInput(
                _("The SKU %(key)s no longer matches the specs and cannot be active."),
                code="sku_not_in_specs",
                key=edit.spec_key,
            )
    edit_by_key = {e.spec_key: e for e in edits}
    final_active = [
        (edit_by_key[s.spec_key].is_active if s.spec_key in edit_by_key else s.is_active)
        for s in product.skus
    ]
    if not any(final_active):
        raise InvalidInput(_("At least one SKU must stay active."), code="no_active_sku")
    final_codes = [
        (edit_by_key[s.spec_key].code.strip() if s.spec_key in edit_by_key else s.code)
        for s in product.skus
    ]
    _check_codes_unique(db, shop_id, product.id, final_codes)
    stock_moves: list[tuple[Sku, int]] = []
    for edit in edits:
        sku = by_key[edit.spec_key]
        sku.price_fen = edit.price_fen
        sku.list_price_fen = edit.list_price_fen
        sku.code = edit.code.strip()
        sku.weight_g = edit.weight_g
        sku.is_active = edit.is_active
        if edit.stock is not None and edit.stock != sku.stock_on_hand:
            stock_moves.append((sku, edit.stock - sku.stock_on_hand))
    db.flush()
    for sku, delta in stock_moves:
        if not _move_stock(db, sku.id, delta):
            db.rollback()
            raise Conflict(
                _("The stock changed meanwhile (orders were placed). Reload and try again."),
                code="stock_changed",
            )
        _log_stock(db, actor, sku, delta, SET_IN_SKU_TABLE)
        db.expire(sku, ["stock_on_hand", "stock_received"])
    _refresh_min_price(product)
    product.updated_at = clock.now()
    db.commit()
    return product


# ---------------------------------------------------------------------------------------
# Merchant: images


def add_images(
    db: Session, actor: Actor, shop_id: int, product_id: int, files: Sequence[bytes]
) -> Product:
    """Store uploaded images (in order, after the existing ones). All or nothing: if one
    is refused, none is kept."""
    product = shop_product(db, actor, shop_id, product_id)
    if not files:
        raise InvalidInput(_("Choose at least one image."), code="no_image")
    if len(product.images) + len(files) > MAX_IMAGES:
        raise InvalidInput(
            _("A product can have at most %(n)s images."), code="too_many_images", n=MAX_IMAGES
        )
    stored: list[media.StoredImage] = []
    try:
        for data in files:
            stored.append(media.save_image(data, folder="products"))
    except DomainError:
        _delete_files(stored)
        raise
    start = len(product.images)
    for offset, image in enumerate(stored):
        product.images.append(
            ProductImage(path=image.path, thumb_path=image.thumb_path, position=start + offset)
        )
    _refresh_cover(product)
    product.updated_at = clock.now()
    _key_fields_changed(db, actor, product, "images")
    try:
        db.commit()
    except Exception:
        _delete_files(stored)
        raise
    return product


def _delete_files(stored: Iterable[media.StoredImage]) -> None:
    for image in stored:
        media.delete(image.path)
        media.delete(image.thumb_path)


def delete_image(
    db: Session, actor: Actor, shop_id: int, product_id: int, image_id: int
) -> Product:
    """Remove an image from the product. The file stays: orders keep the cover they showed."""
    product = shop_product(db, actor, shop_id, product_id)
    image = next((i for i in product.images if i.id == image_id), None)
    if image is None:
        raise NotFound(_("Image not found."), code="image_not_found")
    product.images.remove(image)
    _refresh_cover(product)
    product.updated_at = clock.now()
    _key_fields_changed(db, actor, product, "images")
    db.commit()
    return product


def reorder_images(
    db: Session, actor: Actor, shop_id: int, product_id: int, image_ids: Sequence[int]
) -> Product:
    """Put the product's images in this order (every image id once); the first is the cover.

    Not reviewed: every image shown was approved already.
    """
    product = shop_product(db, actor, shop_id, product_id)
    by_id = {i.id: i for i in product.images}
    if sorted(image_ids) != sorted(by_id) or len(set(image_ids)) != len(image_ids):
        raise InvalidInput(
            _("Give every image of the product exactly once."), code="image_order_invalid"
        )
    product.images = [by_id[i] for i in image_ids]
    _refresh_cover(product)
    product.updated_at = clock.now()
    db.commit()
    return product


# ---------------------------------------------------------------------------------------
# Merchant: status


def _check_listable(product: Product, *, images: bool = True) -> None:
    if images and not product.images:
        raise InvalidInput(_("Add at least one image before submitting."), code="image_required")
    if not any(s.is_active for s in product.skus):
        raise InvalidInput(_("The product needs at least one active SKU."), code="no_active_sku")


def _apply_merchant_action(db: Session, actor: Actor, product: Product, action: str) -> None:
    if action not in MERCHANT_ACTIONS:
        raise InvalidInput(_("Unknown action."), code="unknown_action")
    sources, _target = TRANSITIONS[action]
    if product.status in sources and action in ("submit", "put_on_shelf"):
        # images were checked when it was submitted; removing one sends it back to review
        _check_listable(product, images=action == "submit")
    if action == "submit" and product.status in sources:
        _rescreen(product)
        product.reject_reason = None
        product.submitted_at = clock.now()
    _transition(db, actor, product, action)
    product.updated_at = clock.now()


def change_status(db: Session, actor: Actor, shop_id: int, product_id: int, action: str) -> Product:
    """A merchant's status action: submit, withdraw, take_off_shelf or put_on_shelf."""
    product = shop_product(db, actor, shop_id, product_id)
    _apply_merchant_action(db, actor, product, action)
    db.commit()
    return product


def submit(db: Session, actor: Actor, shop_id: int, product_id: int) -> Product:
    """Send a draft or rejected product to review (needs an image and an active SKU)."""
    return change_status(db, actor, shop_id, product_id, "submit")


def bulk_set_shelf(
    db: Session, actor: Actor, shop_id: int, product_ids: Sequence[int], *, on_shelf: bool
) -> BulkResult:
    """Put products on or take them off the shelf; reports each one that could not change."""
    actor.require_shop(shop_id)
    if not product_ids:
        raise InvalidInput(_("Select at least one product."), code="nothing_selected")
    if len(product_ids) > 200:
        raise InvalidInput(_("Select at most 200 products."), code="too_many_selected")
    wanted = list(dict.fromkeys(product_ids))
    found = {
        p.id: p
        for p in db.scalars(
            select(Product).where(Product.id.in_(wanted), Product.shop_id == shop_id)
        )
    }
    action = "put_on_shelf" if on_shelf else "take_off_shelf"
    result = BulkResult()
    for pid in wanted:
        product = found.get(pid)
        if product is None:
            result.failed.append((pid, NotFound(_("Product not found."), code="product_not_found")))
            continue
        try:
            _apply_merchant_action(db, actor, product, action)
        except DomainError as exc:
            result.failed.append((pid, exc))
        else:
            result.changed.append(pid)
    db.commit()
    return result


def shop_product_events(
    db: Session, actor: Actor, shop_id: int, product_id: int
) -> list[ProductEvent]:
    shop_product(db, actor, shop_id, product_id)
    return product_events(db, product_id)


# ---------------------------------------------------------------------------------------
# Stock


def adjust_stock(
    db: Session,
    actor: Actor,
    sku_id: int,
    delta: int,
    reason: str,
    *,
    shop_id: int | None = None,
    product_id: int | None = None,
) -> StockMovement:
    """A manual stock change by the shop's staff: + goods received, - written off.

    Received and on-hand move together, so on_hand + reserved + sold == received still
    holds; on-hand never goes below zero (one conditional UPDATE, safe under concurrency).
    ``shop_id``/``product_id``, when given, must be the SKU's (else NotFound).
    """
    actor.require_user()
    sku = db.get(Sku, sku_id)
    product = db.get(Product, sku.product_id) if sku is not None else None
    if (
        sku is None
        or product is None
        or not actor.can_manage_shop(product.shop_id)
        or (shop_id is not None and product.shop_id != shop_id)
        or (product_id is not None and product.id != product_id)
    ):
        raise NotFound(_("SKU not found."), code="sku_not_found")
    reason = " ".join((reason or "").split())
    if not reason:
        raise InvalidInput(_("Give a reason for the stock change."), code="reason_required")
    if len(reason) > REASON_MAX:
        raise InvalidInput(
            _("The reason is too long (at most %(n)s characters)."),
            code="reason_too_long",
            n=REASON_MAX,
        )
    if delta == 0 or abs(delta) > STOCK_MAX:
        raise InvalidInput(_("The change must be a non-zero whole number."), code="delta_invalid")
    if not _move_stock(db, sku.id, delta):
        db.rollback()
        raise Conflict(
            _("Only %(n)s in stock: cannot write off more than that."),
            code="stock_below_zero",
            n=sku.stock_on_hand,
        )
    movement = _log_stock(db, actor, sku, delta, reason)
    db.commit()
    db.refresh(sku)
    return movement


# ---------------------------------------------------------------------------------------
# Operators: review


def review_queue(
    db: Session,
    actor: Actor,
    *,
    status: ProductStatus = S.UNDER_REVIEW,
    limit: int = 100,
) -> list[Product]:
    """Products in ``status`` (default: waiting for review), oldest submission first."""
    actor.require_operator()
    order: list[ColumnElement[Any]] = (
        [Product.submitted_at.asc(), Product.id.asc()]
        if status == S.UNDER_REVIEW
        else [Product.updated_at.desc(), Product.id.desc()]
    )
    return list(
        db.scalars(
            select(Product)
            .where(Product.status == status)
            .order_by(*order)
            .limit(min(max(1, limit), 500))
        )
    )


def count_review_queue(db: Session, actor: Actor) -> int:
    """Operators: how many products wait for review (one query, for the dashboard)."""
    actor.require_operator()
    return int(
        db.scalar(select(func.count()).select_from(Product).where(Product.status == S.UNDER_REVIEW))
        or 0
    )


def review_product(db: Session, actor: Actor, product_id: int) -> Product:
    actor.require_operator()
    return get_product(db, product_id)


def approve(db: Session, actor: Actor, product_id: int, *, note: str | None = None) -> Product:
    """An operator approves a product under review: it goes on sale."""
    actor.require_operator()
    product = get_product(db, product_id)
    _transition(db, actor, product, "approve", note=(note or "").strip()[:500] or None)
    product.reject_reason = None
    product.updated_at = clock.now()
    db.commit()
    return product


def reject(db: Session, actor: Actor, product_id: int, reason: str) -> Product:
    """An operator rejects a product under review; the reason is shown to the merchant."""
    actor.require_operator()
    product = get_product(db, product_id)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(_("Give the merchant a reason."), code="reason_required")
    if len(reason) > 500:
        raise InvalidInput(
            _("The reason is too long (at most %(n)s characters)."), code="reason_too_long", n=500
        )
    _transition(db, actor, product, "reject", note=reason)
    product.reject_reason = reason
    product.updated_at = clock.now()
    db.commit()
    return product
