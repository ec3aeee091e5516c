"""What buyers see: listings, Chinese search, the product page and the shop card.

Read-only use cases. Only ON_SALE products of active shops are ever visible; anything
else is "not found", so drafts and closed shops cannot be probed. Every listing runs a
fixed number of queries whatever the page holds: the shop name, cover and list price
come from a join and correlated subqueries, never from a query per product.

Search works for Chinese without a word segmenter. On SQLite the FTS5 trigram table
``products_fts`` (migration 0004) answers terms of three or more characters; shorter
terms, which trigrams cannot match, fall back to LIKE. On PostgreSQL every term is an
ILIKE substring match, which the pg_trgm GIN index on ``products.title`` accelerates.
Several words are ANDed. Results whose title holds every term rank first, then sales.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, get_args

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from xiaodian.catalog import prices as price_history
from xiaodian.catalog import sellability
from xiaodian.catalog import service as catalog_service
from xiaodian.catalog.models import Product, ProductImage, ProductStatus, Sku
from xiaodian.categories import service as categories_service
from xiaodian.categories.service import Category
from xiaodian.errors import InvalidInput, NotFound, _
from xiaodian.merchants import service as merchants_service
from xiaodian.merchants.service import Shop

Sort = Literal["default", "newest", "price_asc", "price_desc", "sales"]
SORTS: tuple[str, ...] = get_args(Sort)
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_PAGE = 10_000
MAX_QUERY_CHARS = 100
MAX_TERMS = 8
TRIGRAM = 3  # the shortest term the trigram index can match

_shop = merchants_service.shops_to_join()

MarketplaceRule = Callable[[Any], ColumnElement[bool]]
_marketplace_rules: list[MarketplaceRule] = []


def marketplace_rule(rule: MarketplaceRule) -> MarketplaceRule:
    """Register a condition a shop must meet for its products to be listed in the
    marketplace (home, categories, search), as merchant health's threshold does. The rule
    gets the shop id column and returns SQL true for the shops listed; it joins the
    listing's query (no statement of its own). A shop's own page and its product pages
    ignore it."""
    _marketplace_rules.append(rule)
    return rule


_fts = sa.table("products_fts", sa.column("rowid", sa.Integer), sa.column("products_fts"))


# --- read models ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CategoryNode:
    id: int
    slug: str
    name_zh: str
    name_en: str
    parent_id: int | None
    children: tuple[CategoryNode, ...] = ()

    def name(self, locale: str) -> str:
        return self.name_zh if locale.startswith("zh") else self.name_en

    @property
    def is_top(self) -> bool:
        return self.parent_id is None

    @property
    def ids(self) -> list[int]:
        """This category and its children: what a filter on it covers."""
        return [self.id, *(c.id for c in self.children)]


@dataclass(frozen=True)
class ProductCard:
    id: int
    title: str
    price_fen: int
    list_price_fen: int | None
    shop_id: int
    shop_name: str
    category_id: int
    cover_path: str | None
    sales_count: int
    deal: Deal | None = None  # a price rule's discount of its cheapest SKU


@dataclass(frozen=True)
class ProductPage:
    items: list[ProductCard]
    total: int
    page: int
    page_size: int

    @property
    def has_more(self) -> bool:
        return self.page * self.page_size < self.total


@dataclass(frozen=True)
class ShopCard:
    id: int
    name: str
    description: str
    logo_path: str | None
    product_count: int


@dataclass(frozen=True)
class Deal:
    """A price rule's discount as the page shows it: its label and its end (a countdown)."""

    label: str
    until: datetime | None


@dataclass(frozen=True)
class SkuView:
    id: int
    spec_values: dict[str, str]
    price_fen: int
    list_price_fen: int | None
    stock: int
    deal: Deal | None = None

    @property
    def available(self) -> bool:
        return self.stock > 0


@dataclass(frozen=True)
class SpecView:
    name: str
    values: list[str]


@dataclass(frozen=True)
class ImageView:
    path: str
    thumb_path: str


@dataclass(frozen=True)
class ProductDetail:
    id: int
    title: str
    description: str
    category: CategoryNode
    shop: ShopCard
    cover_path: str | None
    sales_count: int
    min_price_fen: int
    max_price_fen: int
    list_price_fen: int | None
    purchase_limit: int | None
    return_days: int
    images: list[ImageView] = field(default_factory=list)
    specs: list[SpecView] = field(default_factory=list)
    skus: list[SkuView] = field(default_factory=list)
    deal: Deal | None = None  # the cheapest SKU's

    @property
    def paragraphs(self) -> list[str]:
        return [line.strip() for line in self.description.splitlines() if line.strip()]

    @property
    def in_stock(self) -> bool:
        return any(s.available for s in self.skus)


# --- categories ----------------------------------------------------------------------------


def category_tree(db: Session) -> list[CategoryNode]:
    """The two-level tree (one query), top categories in order, each with its children."""
    return [
        _node(top, tuple(_node(c) for c in top.children))
        for top in categories_service.category_tree(db)
    ]


def get_category(db: Session, slug_or_id: str | int) -> tuple[CategoryNode, CategoryNode]:
    """A category by slug or id (with its children, none for a leaf) and its top category
    (itself when it is one), so a page can show the siblings.

    Raises NotFound for an unknown category.
    """
    tree = category_tree(db)
    node = _find_category(tree, slug_or_id)
    if node is None:
        raise NotFound(_("Category not found."), code="category_not_found")
    top = next(t for t in tree if t.id == (node.parent_id or node.id))
    return node, top


def _node(row: Category, children: tuple[CategoryNode, ...] = ()) -> CategoryNode:
    return CategoryNode(row.id, row.slug, row.name_zh, row.name_en, row.parent_id, children)


def _find_category(tree: list[CategoryNode], key: str | int) -> CategoryNode | None:
    text = str(key).strip()
    for top in tree:
        for node in (top, *top.children):
            if node.slug == text or str(node.id) == text:
                return node
    return None


# --- listing and search ----------------------------------------------------------------------


def list_products(
    db: Session,
    *,
    q: str | None = None,
    category: str | int | CategoryNode | None = None,
    shop_id: int | None = None,
    sort: str = "default",
    page: int = 1,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> ProductPage:
    """One page of visible products: searched, filtered by category (a top category covers
    its children) and shop, and sorted. Three queries at most, whatever the page size.

    Raises InvalidInput for an unknown sort, category or an out-of-range page.
    """
    terms = _terms(q)
    _check_paging(sort, page, page_size)
    filters: list[ColumnElement[bool]] = [
        sellability.current().shown_where(Product.status, _shop.c.is_active),
    ]
    if isinstance(category, CategoryNode):
        filters.append(Product.category_id.in_(category.ids))
    elif category is not None and str(category).strip():
        node = _find_category(category_tree(db), category)
        if node is None:
            raise InvalidInput(
                _("Unknown category: %(category)s"),
                code="unknown_category",
                category=str(category)[:60],
            )
        filters.append(Product.category_id.in_(node.ids))
    if shop_id is not None:
        filters.append(Product.shop_id == shop_id)
    else:
        filters += [rule(Product.shop_id) for rule in _marketplace_rules]
    if terms:
        filters.append(_search_filter(db, terms))

    total = db.scalar(_visible(select(func.count(Product.id))).where(*filters)) or 0
    rows = db.execute(
        _visible(_card_columns())
        .where(*filters)
        .order_by(*_ordering(sort, terms))
        .limit(page_size)
        .offset((page - 1) * page_size)
    ).all()
    items = _with_deals(db, [ProductCard(*row) for row in rows])
    return ProductPage(items=items, total=total, page=page, page_size=page_size)


def _with_deals(db: Session, cards: list[ProductCard]) -> list[ProductCard]:
    """Cards at the price the policy gives a visitor: when a price rule (a limited-time
    discount) lowers a product's cheapest offer, the card shows that price, the SKU's own
    price struck through and the deal. Two queries for the page (its SKUs, the rules'),
    none when no rule is registered."""
    policy = sellability.current()
    if not cards or not policy.price_rules:
        return cards
    sku_ids = db.scalars(
        select(Sku.id).where(Sku.product_id.in_([c.id for c in cards]), Sku.is_active.is_(True))
    ).all()
    offers = policy.offers(db, sellability.load_skus(db, sku_ids), None)
    best: dict[int, sellability.PurchaseInfo] = {}
    for offer in offers.values():
        if offer.discounted and offer.is_available_to_buy:
            held = best.get(offer.sku.product_id)
            if held is None or offer.price_fen < held.price_fen:
                best[offer.sku.product_id] = offer
    out = []
    for card in cards:
        found = best.get(card.id)
        if found is None or found.price_fen >= card.price_fen:
            out.append(card)
            continue
        out.append(
            replace(
                card,
                price_fen=found.price_fen,
                list_price_fen=found.sku.price_fen,
                deal=_deal(found),
            )
        )
    return out


def _terms(q: str | None) -> list[str]:
    text = (q or "").strip()
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidInput(
            _("The search is too long (at most %(max)s characters)."),
            code="query_too_long",
            max=MAX_QUERY_CHARS,
        )
    return text.split()[:MAX_TERMS]


def _check_paging(sort: str, page: int, page_size: int) -> None:
    if sort not in SORTS:
        raise InvalidInput(_("Unknown sort order."), code="bad_sort")
    if not 1 <= page <= MAX_PAGE:
        raise InvalidInput(_("The page number is out of range."), code="bad_page")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidInput(
            _("The page size must be between 1 and %(max)s."),
            code="bad_page_size",
            max=MAX_PAGE_SIZE,
        )


def _visible(query: Select[Any]) -> Select[Any]:
    return query.select_from(Product).join(_shop, _shop.c.id == Product.shop_id)


def _card_columns() -> Select[Any]:
    # The list price shown is the cheapest active SKU's, matching the price shown.
    list_price = (
        select(Sku.list_price_fen)
        .where(Sku.product_id == Product.id, Sku.is_active.is_(True))
        .order_by(Sku.price_fen, Sku.id)
        .limit(1)
        .correlate(Product)
        .scalar_subquery()
    )
    first_image = (
        select(ProductImage.thumb_path)
        .where(ProductImage.product_id == Product.id)
        .order_by(ProductImage.position, ProductImage.id)
        .limit(1)
        .correlate(Product)
        .scalar_subquery()
    )
    return select(
        Product.id,
        Product.title,
        Product.min_price_fen,
        list_price,
        Product.shop_id,
        _shop.c.name,
        Product.category_id,
        func.coalesce(first_image, Product.cover_path),
        Product.sales_count,
    )


def _like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _contains(column: Any, term: str) -> ColumnElement[bool]:
    result: ColumnElement[bool] = column.ilike(_like_pattern(term), escape="\\")
    return result


def _search_filter(db: Session, terms: list[str]) -> ColumnElement[bool]:
    """Every term must appear in the title or the description."""
    conditions: list[ColumnElement[bool]] = []
    fts_terms = []
    use_fts = db.get_bind().dialect.name == "sqlite"
    for term in terms:
        if use_fts and len(term) >= TRIGRAM:
            fts_terms.append(term)
        else:
            conditions.append(
                sa.or_(_contains(Product.title, term), _contains(Product.description, term))
            )
    if fts_terms:
        # Each term quoted as an FTS5 string, so operators and punctuation in the query are
        # matched literally; terms side by side are ANDed.
        match = " ".join('"' + t.replace('"', '""') + '"' for t in fts_terms)
        conditions.append(
            Product.id.in_(select(_fts.c.rowid).where(_fts.c.products_fts.op("MATCH")(match)))
        )
    return sa.and_(*conditions)


def _ordering(sort: str, terms: list[str]) -> list[Any]:
    newest = func.coalesce(Product.published_at, Product.created_at)
    if sort == "newest":
        return [newest.desc(), Product.id.desc()]
    if sort == "price_asc":
        return [Product.min_price_fen.asc(), Product.id.desc()]
    if sort == "price_desc":
        return [Product.min_price_fen.desc(), Product.id.desc()]
    if sort == "sales":
        return [Product.sales_count.desc(), Product.id.desc()]
    ranking: list[Any] = []
    if terms:
        title_hit = sa.and_(*(_contains(Product.title, t) for t in terms))
        ranking.append(sa.case((title_hit, 0), else_=1))
    return [*ranking, Product.sales_count.desc(), newest.desc(), Product.id.desc()]


# --- product and shop ----------------------------------------------------------------------


def _deal(offer: sellability.PurchaseInfo) -> Deal | None:
    if offer.note is None or not offer.discounted:
        return None
    return Deal(offer.note.label, offer.note.until)


def get_product(db: Session, product_id: int, *, buyer_id: int | None = None) -> ProductDetail:
    """The product page: a visible product with its images, specs, the SKUs the
    sellability policy offers (at the price it gives the signed-in buyer, or a visitor
    when ``buyer_id`` is None; the units on hand) and its shop.

    Raises NotFound unless the policy shows the product (on sale, in an active shop).
    """
    try:
        product = catalog_service.get_product(db, product_id)
    except NotFound:
        raise NotFound(_("This product is not available."), code="product_not_found") from None
    shop = merchants_service.get_shop(db, product.shop_id)  # a product's shop exists (FK)
    policy = sellability.current()
    on_sale = product.status == ProductStatus.ON_SALE
    if policy.product_refusal(on_sale=on_sale, shop_active=shop.is_active) is not None:
        raise NotFound(_("This product is not available."), code="product_not_found")
    category = categories_service.get(db, product.category_id)
    facts = sellability.sku_facts(product, shop_name=shop.name, shop_active=shop.is_active)
    offers = policy.offers(db, facts, sellability.Buyer(buyer_id) if buyer_id else None)
    history = price_history.windows(db, [s.id for s in product.skus])
    skus = [
        SkuView(
            id=s.id,
            spec_values={str(k): str(v) for k, v in s.spec_values.items()},
            price_fen=offers[s.id].price_fen,
            # struck through: the SKU's own price when discounted, else the merchant's
            # list price; either only if the SKU was offered at it in the last 30 days
            list_price_fen=price_history.honest_was(
                history.get(s.id), s.price_fen if offers[s.id].discounted else s.list_price_fen
            ),
            stock=offers[s.id].num_available,
            deal=_deal(offers[s.id]),
        )
        for s in product.skus
        if offers[s.id].is_available_to_buy
    ]
    prices = [s.price_fen for s in skus] or [product.min_price_fen]
    cheapest = min(skus, key=lambda s: (s.price_fen, s.id), default=None)
    images = [ImageView(i.path, i.thumb_path) for i in product.images]
    return ProductDetail(
        id=product.id,
        title=product.title,
        description=product.description,
        category=_node(category),
        shop=_shop_card(db, shop),
        cover_path=images[0].thumb_path if images else product.cover_path,
        sales_count=product.sales_count,
        min_price_fen=min(prices),
        max_price_fen=max(prices),
        list_price_fen=cheapest.list_price_fen if cheapest else None,
        deal=cheapest.deal if cheapest else None,
        purchase_limit=product.purchase_limit,
        return_days=product.return_days,
        images=images,
        specs=[SpecView(s.name, [str(v) for v in s.values]) for s in product.specs],
        skus=skus,
    )


def get_shop(db: Session, shop_id: int) -> ShopCard:
    """The public card of an active shop, with how many products it has on sale.

    Raises NotFound for an unknown or closed shop.
    """
    shop = merchants_service.get_shop(db, shop_id)
    if not shop.is_active:
        raise NotFound(_("Shop not found."), code="shop_not_found")
    return _shop_card(db, shop)


def _shop_card(db: Session, shop: Shop) -> ShopCard:
    count = db.scalar(
        select(func.count(Product.id)).where(
            Product.shop_id == shop.id, Product.status == ProductStatus.ON_SALE
        )
    )
    return ShopCard(shop.id, shop.name, shop.description, shop.logo_path, count or 0)
