"""The health score's measures with hand-computed examples, and properties of the whole:
always 0..100, and only what happened inside the 90 days counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xiaodian.health import score

END = datetime(2026, 6, 1, tzinfo=UTC)
W = score.Window.ending(END)
H = timedelta(hours=1)
D = timedelta(days=1)


@dataclass(frozen=True)
class Ord:
    order_no: str
    paid_at: datetime | None
    shipped_at: datetime | None = None
    completed_at: datetime | None = None


@dataclass(frozen=True)
class C:
    case_id: int
    opened_at: datetime
    fault: bool = False
    answered_at: datetime | None = None
    escalated_at: datetime | None = None
    lost_at: datetime | None = None
    order_no: str = "1"


@dataclass(frozen=True)
class S:
    stars: int
    at: datetime
    order_no: str = "1"
    title: str = "毛巾"


T = END - 10 * D  # a time well inside the window


def test_weights_add_up_to_one_hundred() -> None:
    h = score.compute(W, orders=[], cases=[], stars=[])
    assert sum(m.weight for m in h.measures) == 100
    assert h.score == 100  # nothing to judge: full marks, each measure says "no data"
    assert all(m.no_data for m in h.measures)


def test_review_stars() -> None:
    # stars 5, 4, 2: average 11/3; 25 × (11/3 − 1) / 4 = 16.67; the 2 lowers it
    m = score.review_stars(W, [S(5, T), S(4, T), S(2, T, "9"), S(1, W.start - H)])
    assert m.inputs["reviews"] == 3 and m.inputs["star_sum"] == 11
    assert m.points == pytest.approx(25 * (11 / 3 - 1) / 4)
    assert [x.ref for x in m.lowered] == ["9"]


def test_quality_returns() -> None:
    # 40 paid orders, one fault case, one no-reason case: rate 2.5 %; 15 × (1 − 0.5) = 7.5
    orders = [Ord(str(i), T) for i in range(40)]
    cases = [C(1, T, fault=True), C(2, T, fault=False)]
    m = score.quality_returns(W, orders, cases)
    assert m.points == pytest.approx(7.5)
    assert [x.ref for x in m.lowered] == ["1"]
    # 5 % or more scores nothing
    assert score.quality_returns(W, orders[:20], cases).points == 0


def test_shipped_within_48_hours() -> None:
    orders = [
        Ord("a", T, shipped_at=T + 47 * H),  # on time
        Ord("b", T, shipped_at=T + 49 * H),  # late
        Ord("c", T),  # not shipped after 48 h: late
        Ord("d", END - 10 * H),  # paid 10 h ago, not shipped: not due yet
        Ord("e", END - 60 * H, shipped_at=END + H),  # shipped after the end: not shipped
    ]
    m = score.shipped_48h(W, orders)
    assert m.inputs == {"due": 4, "late": 3}
    assert m.points == pytest.approx(20 * 1 / 4)
    assert sorted(x.ref for x in m.lowered) == ["b", "c", "e"]


def test_delivery_days() -> None:
    # 2 and 8 days: average 5; 10 × (10 − 5) / 7 = 7.14; the 8 days lowers it
    orders = [
        Ord("a", T - 5 * D, shipped_at=T - 4 * D, completed_at=T - 2 * D),
        Ord("b", T - 10 * D, shipped_at=T - 9 * D, completed_at=T - 1 * D),
    ]
    m = score.delivery_days(W, orders)
    assert m.inputs["average_days"] == 5
    assert m.points == pytest.approx(10 * 5 / 7)
    assert [x.ref for x in m.lowered] == ["b"]
    fast = [Ord("c", T - 2 * D, shipped_at=T - 2 * D, completed_at=T)]
    assert score.delivery_days(W, fast).points == 10  # 2 days: at most 3 scores full


def test_tracking_updates_weigh_nothing_and_say_so() -> None:
    m = score.tracking_updates()
    assert m.weight == 0 and m.no_data


def test_answered_within_48_hours() -> None:
    cases = [
        C(1, T, answered_at=T + 2 * H),
        C(2, T, answered_at=T + 50 * H),
        C(3, T),  # never answered, long due
        C(4, END - H),  # opened an hour ago: not due yet
    ]
    m = score.answered_48h(W, cases)
    assert m.inputs == {"due": 3, "late": 2}
    assert m.points == pytest.approx(15 / 3)


def test_dispute_ratio_and_rulings_lost() -> None:
    cases = [C(i, T) for i in range(1, 10)] + [C(10, T, escalated_at=T + D, lost_at=T + 2 * D)]
    m = score.dispute_ratio(W, cases)
    # 1 dispute in 10 cases: 10 × (1 − 0.1 / 0.2) = 5
    assert m.points == pytest.approx(5)
    lost = score.arbitration_lost(W, cases)
    assert lost.points == pytest.approx(5 * (1 - 1 / 3))
    assert [x.ref for x in lost.lowered] == ["10"]


def test_a_whole_score_by_hand() -> None:
    # stars: one 3-star review: 25 × 2/4 = 12.5; quality 15; shipping: 1 of 2 late: 10;
    # delivery: no receipt: 10; answered 15; disputes 10; lost 5. 12.5 + 15 + 10 + 10 +
    # 15 + 10 + 5 = 77.5, rounded half up: 78.
    h = score.compute(
        W,
        orders=[Ord("a", T, shipped_at=T + H), Ord("b", T, shipped_at=T + 3 * D)],
        cases=[],
        stars=[S(3, T)],
    )
    assert h.score == 78
    assert h.part_points("product") == (27.5, 40)
    assert score.restrictions(h.score) == []
    assert score.restrictions(59) == ["live"]
    assert score.restrictions(39) == ["live", "marketplace"]


# --------------------------------------------------------------------------- properties

times = st.integers(min_value=-200 * 24, max_value=30 * 24).map(lambda h: END + h * H)
maybe = st.one_of(st.none(), st.integers(min_value=0, max_value=20 * 24).map(lambda h: h * H))


@st.composite
def an_order(draw: st.DrawFn) -> Ord:
    paid = draw(times)
    ship = draw(maybe)
    done = draw(maybe)
    shipped = paid + ship if ship is not None else None
    completed = shipped + done if shipped is not None and done is not None else None
    return Ord(str(draw(st.integers(1, 10**6))), paid, shipped, completed)


@st.composite
def a_case(draw: st.DrawFn) -> C:
    opened = draw(times)

    def later() -> datetime | None:
        gap = draw(maybe)
        return opened + gap if gap is not None else None

    return C(draw(st.integers(1, 10**6)), opened, draw(st.booleans()), later(), later(), later())


a_star = st.builds(S, st.integers(1, 5), times)


@settings(max_examples=200, deadline=None)
@given(
    orders=st.lists(an_order(), max_size=30),
    cases=st.lists(a_case(), max_size=30),
    stars=st.lists(a_star, max_size=30),
)
def test_the_score_is_in_range_and_only_the_window_counts(
    orders: list[Ord], cases: list[C], stars: list[S]
) -> None:
    h = score.compute(W, orders=orders, cases=cases, stars=stars)
    assert 0 <= h.score <= 100
    for m in h.measures:
        assert 0 <= m.points <= m.weight

    # Dropping every fact that lies wholly outside the window changes nothing: orders paid
    # and completed before the start (or not yet), cases and reviews outside it.
    def outside(at: datetime | None) -> bool:
        return at is None or at not in W

    kept_orders = [o for o in orders if not (outside(o.paid_at) and outside(o.completed_at))]
    kept_cases = [c for c in cases if c.opened_at in W]
    kept_stars = [s for s in stars if s.at in W]
    again = score.compute(W, orders=kept_orders, cases=kept_cases, stars=kept_stars)
    assert again.score == h.score
    assert [m.points for m in again.measures] == [m.points for m in h.measures]


@settings(max_examples=100, deadline=None)
@given(
    orders=st.lists(an_order(), max_size=20),
    cases=st.lists(a_case(), max_size=20),
    stars=st.lists(a_star, max_size=20),
    shift=st.integers(min_value=1, max_value=500),
)
def test_events_after_the_end_have_not_happened_yet(
    orders: list[Ord], cases: list[C], stars: list[S], shift: int
) -> None:
    """Moving every time after the window's end further into the future changes
    nothing: the score is what was known at the end."""

    def push(at: datetime | None) -> datetime | None:
        return at + shift * D if at is not None and at > END else at

    moved_orders = [
        Ord(o.order_no, push(o.paid_at), push(o.shipped_at), push(o.completed_at)) for o in orders
    ]
    moved_cases = [
        C(
            c.case_id,
            push(c.opened_at) or c.opened_at,
            c.fault,
            push(c.answered_at),
            push(c.escalated_at),
            push(c.lost_at),
        )
        for c in cases
    ]
    moved_stars = [S(s.stars, push(s.at) or s.at) for s in stars]
    a = score.compute(W, orders=orders, cases=cases, stars=stars)
    b = score.compute(W, orders=moved_orders, cases=moved_cases, stars=moved_stars)
    assert a.score == b.score
