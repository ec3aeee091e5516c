"""The health score (商家体验分): named measures, each with its weight, formula and inputs,
over the last 90 days. Pure functions of the facts other domains hand in (orders' times,
after-sales' cases, reviews' stars) and a window, so each is tested with hand-computed
examples and the whole with a property test.

Every fact is judged as it stood at the window's end: a time outside ``(start, end]`` did
not happen (an order shipped after the end was not shipped by then). A measure with nothing
to judge scores its full weight and says so ("no data" is not a fault).

| part | measure | weight | formula |
| --- | --- | --- | --- |
| product | review_stars | 25 | 25 × (average stars − 1) / 4 |
| product | quality_returns | 15 | 15 × max(0, 1 − rate / 5 %), rate = fault cases / paid orders |
| logistics | shipped_48h | 20 | 20 × share of due orders shipped within 48 h of payment |
| logistics | delivery_days | 10 | 10 × clamp((10 − average days) / 7, 0, 1), shipped → received |
| logistics | tracking_updates | 0 | no tracking data yet: weighs nothing until parcels report |
| service | answered_48h | 15 | 15 × share of due cases answered within 48 h |
| service | dispute_ratio | 10 | 10 × max(0, 1 − disputes / cases / 20 %) |
| service | arbitration_lost | 5 | 5 × max(0, 1 − rulings lost / 3) |
| penalties | violation_points | 0 | − points of violations in the window not reversed by its end |

The last row is a deduction, not a part of the 100: it appears only when a registered source
(``service.deduction_source``: the violations domain's) hands in points taken off.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from xiaodian.errors import _

WINDOW_DAYS = 90
SHIP_HOURS = 48
ANSWER_HOURS = 48
QUALITY_RATE_ZERO = 0.05  # 5 % of paid orders with a fault case scores nothing
DELIVERY_FULL_DAYS = 3.0
DELIVERY_ZERO_DAYS = 10.0
DISPUTE_RATIO_ZERO = 0.20
LOST_ZERO = 3
SLOW_DELIVERY_DAYS = 5.0  # an order taking longer is listed as lowering delivery_days
LOW_STARS = 3  # a review of 3 stars or fewer is listed as lowering review_stars
MAX_LOWERED = 50  # per measure, newest first, on the merchant page

LIVE_MIN = 60  # below: no new live rooms
MARKETPLACE_MIN = 40  # below: the shop's products leave the marketplace listings

PARTS: dict[str, str] = {
    "product": _("Product"),
    "logistics": _("Logistics"),
    "service": _("Service"),
    "penalties": _("Violations"),
}
MEASURES: dict[str, tuple[str, str, str]] = {
    # name: (label, formula, what to do)
    "review_stars": (
        _("Review stars"),
        _("25 × (average stars − 1) / 4"),
        _("Answer low reviews, fix what buyers complain about, describe products truthfully."),
    ),
    "quality_returns": (
        _("Returns for quality reasons"),
        _("15 × (1 − fault cases / paid orders / 5%)"),
        _("Check goods before shipping; make titles, photos and specs match the product."),
    ),
    "shipped_48h": (
        _("Shipped within 48 hours"),
        _("20 × orders shipped within 48 h of payment / orders due"),
        _("Ship every paid order within 48 hours; keep stock counts true."),
    ),
    "delivery_days": (
        _("Delivery time"),
        _("10 × (10 − average days from shipping to receipt) / 7"),
        _("Use a faster carrier or ship from a warehouse nearer your buyers."),
    ),
    "tracking_updates": (
        _("Tracking updates"),
        _("Weight 0: no tracking data yet"),
        _("Nothing to do yet: this counts once parcels report their journey."),
    ),
    "answered_48h": (
        _("After-sales answered within 48 hours"),
        _("15 × cases answered within 48 h / cases due"),
        _("Answer every after-sales request within 48 hours."),
    ),
    "dispute_ratio": (
        _("Disputes"),
        _("10 × (1 − escalated cases / cases / 20%)"),
        _("Settle requests with the buyer before they escalate to the platform."),
    ),
    "arbitration_lost": (
        _("Platform rulings lost"),
        _("5 × (1 − rulings lost / 3)"),
        _("Reject a request only with evidence; the platform rules on what it sees."),
    ),
    "violation_points": (
        _("Points taken off for violations"),
        _("− the points of each violation, until an appeal returns them"),
        _("Fix what the violation names, or appeal with evidence within its deadline."),
    ),
}

INPUTS: dict[str, str] = {
    "reviews": _("reviews"),
    "star_sum": _("stars in all"),
    "average": _("average"),
    "paid_orders": _("paid orders"),
    "fault_cases": _("fault cases"),
    "rate": _("rate"),
    "due": _("due"),
    "late": _("late"),
    "received": _("received"),
    "average_days": _("average days"),
    "cases": _("cases"),
    "disputes": _("disputes"),
    "ratio": _("ratio"),
    "lost": _("lost"),
    "violations": _("violations"),
    "points_off": _("points off"),
}


@dataclass(frozen=True)
class Window:
    """``(start, end]``: the 90 days ending now (what happened this instant counts)."""

    start: datetime
    end: datetime

    @classmethod
    def ending(cls, end: datetime, days: int = WINDOW_DAYS) -> Window:
        return cls(end - timedelta(days=days), end)

    def __contains__(self, at: object) -> bool:
        return isinstance(at, datetime) and self.start < at <= self.end

    def by_end(self, at: datetime | None) -> datetime | None:
        """``at`` if it happened before the end, else None (not yet, as of the end)."""
        return at if at is not None and at <= self.end else None


class OrderFact(Protocol):
    @property
    def order_no(self) -> str: ...
    @property
    def paid_at(self) -> datetime | None: ...
    @property
    def shipped_at(self) -> datetime | None: ...
    @property
    def completed_at(self) -> datetime | None: ...


class CaseFact(Protocol):
    @property
    def case_id(self) -> int: ...
    @property
    def order_no(self) -> str: ...
    @property
    def fault(self) -> bool: ...
    @property
    def opened_at(self) -> datetime: ...
    @property
    def answered_at(self) -> datetime | None: ...
    @property
    def escalated_at(self) -> datetime | None: ...
    @property
    def lost_at(self) -> datetime | None: ...


class StarFact(Protocol):
    @property
    def order_no(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def stars(self) -> int: ...
    @property
    def at(self) -> datetime: ...


class DeductionFact(Protocol):
    """Points taken off the score (a violation's penalty), from ``at`` until ``returned_at``."""

    @property
    def shop_id(self) -> int: ...
    @property
    def ref(self) -> str: ...
    @property
    def points(self) -> int: ...
    @property
    def why(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def returned_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class Lowered:
    """An order or case that cost a measure points, and why (a msgid and its values)."""

    measure: str
    kind: str  # "order" | "case" | "violation"
    ref: str  # the order number, or the case id
    why: str
    params: dict[str, Any] = field(default_factory=dict)
    at: datetime | None = None


@dataclass(frozen=True)
class Measure:
    part: str
    name: str
    weight: int
    points: float  # 0..weight (a deduction: 0 or less, its weight 0)
    inputs: dict[str, Any]
    lowered: list[Lowered] = field(default_factory=list)
    no_data: bool = False


@dataclass(frozen=True)
class Health:
    score: int
    measures: list[Measure]

    def part_points(self, part: str) -> tuple[float, int]:
        """(points, weight) of a part."""
        ms = [m for m in self.measures if m.part == part]
        return round(sum(m.points for m in ms), 1), sum(m.weight for m in ms)


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, value))


def _hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600


def review_stars(window: Window, stars: Iterable[StarFact], weight: int = 25) -> Measure:
    inside = [s for s in stars if s.at in window]
    if not inside:
        return Measure("product", "review_stars", weight, weight, {"reviews": 0}, no_data=True)
    total = sum(s.stars for s in inside)
    average = total / len(inside)
    lowered = [
        Lowered(
            "review_stars",
            "order",
            s.order_no,
            _("%(stars)s stars for %(title)s"),
            {"stars": s.stars, "title": s.title},
            s.at,
        )
        for s in inside
        if s.stars <= LOW_STARS
    ]
    return Measure(
        "product",
        "review_stars",
        weight,
        weight * (average - 1) / 4,
        {"reviews": len(inside), "star_sum": total, "average": round(average, 2)},
        lowered,
    )


def quality_returns(
    window: Window, orders: Iterable[OrderFact], cases: Iterable[CaseFact], weight: int = 15
) -> Measure:
    paid = sum(1 for o in orders if o.paid_at in window)
    faults = [c for c in cases if c.fault and c.opened_at in window]
    inputs: dict[str, Any] = {"paid_orders": paid, "fault_cases": len(faults)}
    if not paid and not faults:
        return Measure("product", "quality_returns", weight, weight, inputs, no_data=True)
    rate = len(faults) / max(paid, len(faults))
    inputs["rate"] = round(rate, 4)
    lowered = [
        Lowered(
            "quality_returns",
            "case",
            str(c.case_id),
            _("Returned for a fault of the goods"),
            {"order_no": c.order_no},
            c.opened_at,
        )
        for c in faults
    ]
    points = weight * _clamp(1 - rate / QUALITY_RATE_ZERO)
    return Measure("product", "quality_returns", weight, points, inputs, lowered)


def shipped_48h(window: Window, orders: Iterable[OrderFact], weight: int = 20) -> Measure:
    limit = timedelta(hours=SHIP_HOURS)
    due = 0
    lowered: list[Lowered] = []
    for o in orders:
        if o.paid_at not in window:
            continue
        assert o.paid_at is not None
        shipped = window.by_end(o.shipped_at)
        if shipped is None and o.paid_at + limit > window.end:
            continue  # not shipped yet, and not late yet
        due += 1
        if shipped is None:
            lowered.append(
                Lowered(
                    "shipped_48h",
                    "order",
                    o.order_no,
                    _("Not shipped 48 hours after payment"),
                    {},
                    o.paid_at,
                )
            )
        elif shipped - o.paid_at > limit:
            lowered.append(
                Lowered(
                    "shipped_48h",
                    "order",
                    o.order_no,
                    _("Shipped %(hours)s hours after payment"),
                    {"hours": math.floor(_hours(shipped - o.paid_at))},
                    o.paid_at,
                )
            )
    inputs = {"due": due, "late": len(lowered)}
    if not due:
        return Measure("logistics", "shipped_48h", weight, weight, inputs, no_data=True)
    return Measure(
        "logistics", "shipped_48h", weight, weight * (due - len(lowered)) / due, inputs, lowered
    )


def delivery_days(window: Window, orders: Iterable[OrderFact], weight: int = 10) -> Measure:
    days: list[tuple[OrderFact, float]] = []
    for o in orders:
        done, shipped = o.completed_at, o.shipped_at
        if done is None or done not in window or shipped is None or shipped > done:
            continue
        days.append((o, (done - shipped).total_seconds() / 86400))
    if not days:
        return Measure("logistics", "delivery_days", weight, weight, {"received": 0}, no_data=True)
    average = sum(d for _o, d in days) / len(days)
    span = DELIVERY_ZERO_DAYS - DELIVERY_FULL_DAYS
    lowered = [
        Lowered(
            "delivery_days",
            "order",
            o.order_no,
            _("Received %(days)s days after shipping"),
            {"days": round(d, 1)},
            o.completed_at,
        )
        for o, d in days
        if d > SLOW_DELIVERY_DAYS
    ]
    return Measure(
        "logistics",
        "delivery_days",
        weight,
        weight * _clamp((DELIVERY_ZERO_DAYS - average) / span),
        {"received": len(days), "average_days": round(average, 2)},
        lowered,
    )


def tracking_updates() -> Measure:
    """Parcels do not report their journey yet: the measure is shown, and weighs 0."""
    return Measure("logistics", "tracking_updates", 0, 0, {}, no_data=True)


def answered_48h(window: Window, cases: Iterable[CaseFact], weight: int = 15) -> Measure:
    limit = timedelta(hours=ANSWER_HOURS)
    due = 0
    lowered: list[Lowered] = []
    for c in cases:
        if c.opened_at not in window:
            continue
        answered = window.by_end(c.answered_at)
        if answered is None and c.opened_at + limit > window.end:
            continue
        due += 1
        if answered is None or answered - c.opened_at > limit:
            lowered.append(
                Lowered(
                    "answered_48h",
                    "case",
                    str(c.case_id),
                    _("Not answered within 48 hours"),
                    {"order_no": c.order_no},
                    c.opened_at,
                )
            )
    inputs = {"due": due, "late": len(lowered)}
    if not due:
        return Measure("service", "answered_48h", weight, weight, inputs, no_data=True)
    return Measure(
        "service", "answered_48h", weight, weight * (due - len(lowered)) / due, inputs, lowered
    )


def dispute_ratio(window: Window, cases: Iterable[CaseFact], weight: int = 10) -> Measure:
    inside = [c for c in cases if c.opened_at in window]
    disputes = [c for c in inside if window.by_end(c.escalated_at) is not None]
    inputs: dict[str, Any] = {"cases": len(inside), "disputes": len(disputes)}
    if not inside:
        return Measure("service", "dispute_ratio", weight, weight, inputs, no_data=True)
    ratio = len(disputes) / len(inside)
    inputs["ratio"] = round(ratio, 4)
    lowered = [
        Lowered(
            "dispute_ratio",
            "case",
            str(c.case_id),
            _("Escalated to the platform"),
            {"order_no": c.order_no},
            c.escalated_at,
        )
        for c in disputes
    ]
    return Measure(
        "service",
        "dispute_ratio",
        weight,
        weight * _clamp(1 - ratio / DISPUTE_RATIO_ZERO),
        inputs,
        lowered,
    )


def arbitration_lost(window: Window, cases: Iterable[CaseFact], weight: int = 5) -> Measure:
    inside = [c for c in cases if c.opened_at in window]
    lost = [c for c in inside if window.by_end(c.lost_at) is not None]
    lowered = [
        Lowered(
            "arbitration_lost",
            "case",
            str(c.case_id),
            _("The platform ruled for the buyer"),
            {"order_no": c.order_no},
            c.lost_at,
        )
        for c in lost
    ]
    return Measure(
        "service",
        "arbitration_lost",
        weight,
        weight * _clamp(1 - len(lost) / LOST_ZERO),
        {"cases": len(inside), "lost": len(lost)},
        lowered,
        no_data=not inside,
    )


def violation_points(window: Window, deductions: Iterable[DeductionFact]) -> Measure | None:
    """The points taken off by violations recorded in the window and not returned by its
    end; None when there are none (the measure is not shown)."""
    standing = [d for d in deductions if d.at in window and window.by_end(d.returned_at) is None]
    if not standing:
        return None
    off = sum(d.points for d in standing)
    lowered = [
        Lowered(
            "violation_points",
            "violation",
            d.ref,
            _("%(points)s points off: %(why)s"),
            {"points": d.points, "why": d.why},
            d.at,
        )
        for d in standing
    ]
    return Measure(
        "penalties",
        "violation_points",
        0,
        -off,
        {"violations": len(standing), "points_off": off},
        lowered,
    )


def compute(
    window: Window,
    *,
    orders: Sequence[OrderFact],
    cases: Sequence[CaseFact],
    stars: Sequence[StarFact],
    deductions: Sequence[DeductionFact] = (),
) -> Health:
    """The score of one shop's facts over ``window``: the sum of the measures' points less
    the points violations took off, rounded half up, in 0..100."""
    measures = [
        review_stars(window, stars),
        quality_returns(window, orders, cases),
        shipped_48h(window, orders),
        delivery_days(window, orders),
        tracking_updates(),
        answered_48h(window, cases),
        dispute_ratio(window, cases),
        arbitration_lost(window, cases),
    ]
    penalty = violation_points(window, deductions)
    if penalty is not None:
        measures.append(penalty)
    total = sum(m.points for m in measures)
    score = min(100, max(0, math.floor(total + 0.5 + 1e-9)))
    return Health(score=score, measures=measures)


def restrictions(score: int) -> list[str]:
    """What a shop may not do at this score: "live" (open new live rooms), "marketplace"
    (products in the marketplace listings)."""
    out = []
    if score < LIVE_MIN:
        out.append("live")
    if score < MARKETPLACE_MIN:
        out.append("marketplace")
    return out
