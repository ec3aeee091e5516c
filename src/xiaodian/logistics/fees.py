"""Shipping fees (运费模板): the terms of a template, checked, and what a parcel costs.

Pure reckoning, no database: ``logistics/shipping.py`` loads the templates and calls it.

- **Units**: a template charges by piece (件数: the lines' quantities) or by weight (the
  SKUs' ``weight_g`` times the quantities, in grams).
- **A rule**: the first ``first_units`` (or fewer: a parcel always pays its first fee)
  cost ``first_fen``; each further ``extra_units``, or part of them (rounded up, as every
  carrier does), costs ``extra_fen``. 3 kg at "first 1000 g ¥10, each further 500 g ¥4"
  is ¥10 + 4 × ¥4 = ¥26; 1001 g is ¥14.
- **Provinces**: the address's province (as the buyer typed it: "广东", "广东省") is read as
  one of the 34 provincial-level divisions (``PROVINCES``); a region rule naming it
  replaces the default rule, an excluded one refuses delivery (a 422 at checkout). An
  address whose province is none of them pays the default rule.
- **Free over** (满额包邮): a template with ``free_over_fen`` costs nothing once the
  shop-order's items, after discounts, reach it.
- **Lines of one shop under different templates** (a product naming its own): each
  template reckons on its own lines and the fees are added, as WeChat Shop and Taobao do
  (不同运费模板的商品分别计算运费后相加). The free-over threshold of each template is
  measured against the whole shop-order's items.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from xiaodian.errors import InvalidInput, _

# China's 34 provincial-level divisions, by their full names (GB/T 2260 order).
PROVINCES: tuple[str, ...] = (
    "北京市",
    "天津市",
    "河北省",
    "山西省",
    "内蒙古自治区",
    "辽宁省",
    "吉林省",
    "黑龙江省",
    "上海市",
    "江苏省",
    "浙江省",
    "安徽省",
    "福建省",
    "江西省",
    "山东省",
    "河南省",
    "湖北省",
    "湖南省",
    "广东省",
    "广西壮族自治区",
    "海南省",
    "重庆市",
    "四川省",
    "贵州省",
    "云南省",
    "西藏自治区",
    "陕西省",
    "甘肃省",
    "青海省",
    "宁夏回族自治区",
    "新疆维吾尔自治区",
    "台湾省",
    "香港特别行政区",
    "澳门特别行政区",
)
_SUFFIXES = ("特别行政区", "维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "省", "市")


def _short(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


_BY_SHORT = {_short(name): name for name in PROVINCES}

METHODS = ("piece", "weight")
MAX_FEE_FEN = 1_000_000  # ¥10,000: no parcel's fee is more
MAX_UNITS = 1_000_000  # a million pieces or grams (a tonne) per step
MAX_FREE_OVER_FEN = 100_000_000  # ¥1,000,000
MAX_REGIONS = len(PROVINCES)
MAX_NAME = 40


def province_of(text: object) -> str | None:
    """The full name of the division ``text`` names ("广东", "广东省" -> "广东省"), or None."""
    if not isinstance(text, str):
        return None
    text = text.strip()
    if text in PROVINCES:
        return text
    return _BY_SHORT.get(_short(text))


@dataclass(frozen=True)
class Rule:
    first_units: int
    first_fen: int
    extra_units: int
    extra_fen: int

    def fee(self, units: int) -> int:
        """The first fee, and ``extra_fen`` per further ``extra_units`` or part of them."""
        further = max(0, units - self.first_units)
        steps = -(-further // self.extra_units)  # rounded up
        return self.first_fen + steps * self.extra_fen

    def as_dict(self) -> dict[str, int]:
        return {
            "first_units": self.first_units,
            "first_fen": self.first_fen,
            "extra_units": self.extra_units,
            "extra_fen": self.extra_fen,
        }


@dataclass(frozen=True)
class Region:
    provinces: tuple[str, ...]
    rule: Rule


@dataclass(frozen=True)
class Terms:
    """A template's terms, checked (``check_terms``)."""

    name: str
    method: str
    rule: Rule
    regions: tuple[Region, ...] = ()
    excluded: tuple[str, ...] = ()
    free_over_fen: int | None = None
    is_default: bool = False

    def rule_for(self, province: str | None) -> Rule:
        """The rule of ``province`` (full or short name): its region's, else the default."""
        province = province_of(province)
        for region in self.regions:
            if province in region.provinces:
                return region.rule
        return self.rule

    def delivers_to(self, province: str | None) -> bool:
        return province_of(province) not in self.excluded

    def units(self, items: list[tuple[int, int]]) -> int:
        """``items``: (quantity, weight_g) of the lines under this template."""
        if self.method == "weight":
            return sum(quantity * weight for quantity, weight in items)
        return sum(quantity for quantity, _weight in items)

    def fee(self, province: str | None, items: list[tuple[int, int]], order_items_fen: int) -> int:
        """What these lines cost to ship to ``province`` (delivery is checked by the
        caller), free once the shop-order's items reach ``free_over_fen``."""
        if not items:
            return 0
        if self.free_over_fen is not None and order_items_fen >= self.free_over_fen:
            return 0
        return self.rule_for(province).fee(self.units(items))

    def regions_as_json(self) -> list[dict[str, Any]]:
        return [{"provinces": list(r.provinces), **r.rule.as_dict()} for r in self.regions]


# --------------------------------------------------------------------------- checks


def _whole(value: object, label: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidInput(
            _("%(field)s must be a whole number from %(low)s to %(high)s."),
            code="bad_shipping_number",
            field=label,
            low=low,
            high=high,
        )
    return value


def check_rule(data: object) -> Rule:
    """A rule from ``{"first_units", "first_fen", "extra_units", "extra_fen"}``, checked:
    units 1..1,000,000, fees 0..¥10,000."""
    if not isinstance(data, dict):
        raise InvalidInput(_("A shipping rule must be an object."), code="bad_shipping_rule")
    return Rule(
        first_units=_whole(data.get("first_units"), _("The first units"), 1, MAX_UNITS),
        first_fen=_whole(data.get("first_fen"), _("The first fee"), 0, MAX_FEE_FEN),
        extra_units=_whole(data.get("extra_units"), _("The additional units"), 1, MAX_UNITS),
        extra_fen=_whole(data.get("extra_fen"), _("The additional fee"), 0, MAX_FEE_FEN),
    )


def check_provinces(names: object, *, allow_empty: bool = True) -> tuple[str, ...]:
    """Provinces as given (full or short names), each one of the 34, none twice."""
    if not isinstance(names, list | tuple) or len(names) > len(PROVINCES):
        raise InvalidInput(_("Provinces must be a list of names."), code="bad_provinces")
    out: list[str] = []
    for name in names:
        province = province_of(name)
        if province is None:
            raise InvalidInput(
                _("Unknown province: %(name)s."), code="unknown_province", name=str(name)[:20]
            )
        if province not in out:
            out.append(province)
    if not out and not allow_empty:
        raise InvalidInput(_("A province rule must name provinces."), code="bad_provinces")
    return tuple(out)


def check_terms(
    *,
    name: object,
    method: object,
    rule: object,
    regions: object = (),
    excluded: object = (),
    free_over_fen: object = None,
    is_default: object = False,
) -> Terms:
    """The terms of a template, every field checked; InvalidInput (422) naming the first
    that is wrong. A province is in at most one region, and not both in one and excluded."""
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= MAX_NAME:
        raise InvalidInput(
            _("The name must be 1 to %(n)s characters."), code="bad_name", n=MAX_NAME
        )
    if method not in METHODS:
        raise InvalidInput(_("Charge by piece or by weight."), code="bad_shipping_method")
    if not isinstance(regions, list | tuple) or len(regions) > MAX_REGIONS:
        raise InvalidInput(
            _("At most %(n)s province rules."), code="too_many_regions", n=MAX_REGIONS
        )
    checked: list[Region] = []
    seen: set[str] = set()
    for region in regions:
        if not isinstance(region, dict):
            raise InvalidInput(_("A shipping rule must be an object."), code="bad_shipping_rule")
        provinces = check_provinces(region.get("provinces"), allow_empty=False)
        twice = seen.intersection(provinces)
        if twice:
            raise InvalidInput(
                _("%(name)s is in more than one province rule."),
                code="province_twice",
                name=sorted(twice)[0],
            )
        seen.update(provinces)
        checked.append(Region(provinces, check_rule(region)))
    out = check_provinces(excluded)
    both = seen.intersection(out)
    if both:
        raise InvalidInput(
            _("%(name)s cannot have a rule and be excluded."),
            code="province_twice",
            name=sorted(both)[0],
        )
    if free_over_fen is not None:
        free_over_fen = _whole(free_over_fen, _("Free shipping over"), 1, MAX_FREE_OVER_FEN)
    if not isinstance(is_default, bool):
        raise InvalidInput(_("Default must be true or false."), code="bad_default")
    return Terms(
        name=name.strip(),
        method=str(method),
        rule=check_rule(rule),
        regions=tuple(checked),
        excluded=out,
        free_over_fen=free_over_fen,
        is_default=is_default,
    )


@dataclass
class Reckoning:
    """What a parcel costs: the fee, or the excluded province (undeliverable)."""

    fen: int = 0
    undeliverable: str | None = None
    parts: dict[int, int] = field(default_factory=dict)  # template id -> its fee


def parcel_fee(
    templates: dict[int, Terms],
    lines: list[tuple[int, int, int]],
    province_text: str,
    order_items_fen: int,
) -> Reckoning:
    """``lines``: (template id, quantity, weight_g) of one shop-order, the template each
    line ships by already chosen (lines under no template ship free). Each template
    reckons on its own lines; the fees are added."""
    province = province_of(province_text)
    grouped: dict[int, list[tuple[int, int]]] = {}
    for template_id, quantity, weight in lines:
        grouped.setdefault(template_id, []).append((quantity, weight))
    result = Reckoning()
    for template_id, items in grouped.items():
        terms = templates[template_id]
        if not terms.delivers_to(province):
            return Reckoning(undeliverable=province)
        part = terms.fee(province, items, order_items_fen)
        result.parts[template_id] = part
        result.fen += part
    return result
