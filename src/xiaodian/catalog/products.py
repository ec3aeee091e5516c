"""Creating and editing products: their own fields, spec axes and the SKUs they make.

Key fields (title, description, category, images, specs) are what a reviewer approved:
editing one on a listed product sends it back to review (``states.key_fields_changed``).
Price, stock, SKU codes and weights are not reviewed and change freely. Every public
function that writes is one transaction; validation happens before any write.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian.actor import Actor
from xiaodian.catalog import service, states
from xiaodian.catalog.models import Product, ProductEvent, ProductSpec, ProductStatus, Sku
from xiaodian.catalog.stock import (
    INITIAL_STOCK,
    SET_IN_SKU_TABLE,
    check_stock,
    log_stock,
    move_stock,
)
from xiaodian.categories import service as categories_service
from xiaodian.categories.service import Category
from xiaodian.errors import Conflict, InvalidInput, _

S = ProductStatus

TITLE_MAX = 60
DESCRIPTION_MAX = 5000
MAX_SPECS = 3
MAX_SPEC_VALUES = 20
MAX_SKUS = 400
SPEC_NAME_MAX = 20
SPEC_VALUE_MAX = 30
SKU_CODE_MAX = 64
PRICE_MAX_FEN = 100_000_000_00  # ¥100,000,000: a typo guard, not a business rule


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


def _check_weight(weight_g: int) -> int:
    if not 0 <= weight_g <= 1_000_000:
        raise InvalidInput(
            _("The weight must be between 0 and 1000000 grams."), code="weight_invalid"
        )
    return weight_g


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


def _refresh_min_price(product: Product) -> None:
    prices = [s.price_fen for s in product.skus if s.is_active]
    product.min_price_fen = min(prices) if prices else 0


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


# ---------------------------------------------------------------------------------------
# Creating and editing


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
    check_stock(stock)
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
            log_stock(db, actor, sku, stock, INITIAL_STOCK)
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


EDITABLE_FIELDS = frozenset(
    {"title", "description", "category_id", "purchase_limit", "return_days"}
)


KEY_FIELDS = frozenset({"title", "description", "category_id"})


def update_product(
    db: Session, actor: Actor, shop_id: int, product_id: int, changes: Mapping[str, Any]
) -> Product:
    """Change the product's own fields (only those given). Key-field edits of a listed
    product send it back to review."""
    product = service.shop_product(db, actor, shop_id, product_id)
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
        states.key_fields_changed(db, actor, product, ", ".join(sorted(key_changes)))
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
    product = service.shop_product(db, actor, shop_id, product_id)
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
    states.key_fields_changed(db, actor, product, "specs")
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
    product = service.shop_product(db, actor, shop_id, product_id)
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
            check_stock(edit.stock)
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
        if not move_stock(db, sku.id, delta):
            db.rollback()
            raise Conflict(
                _("The stock changed meanwhile (orders were placed). Reload and try again."),
                code="stock_changed",
            )
        log_stock(db, actor, sku, delta, SET_IN_SKU_TABLE)
        db.expire(sku, ["stock_on_hand", "stock_received"])
    _refresh_min_price(product)
    product.updated_at = clock.now()
    db.commit()
    return product
