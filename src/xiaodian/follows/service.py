"""Following (关注): a buyer follows a shop or a creator in one tap and unfollows in one tap,
at once. Each public function is one transaction.

Shops and creators see their number of followers and how it changed day by day (Beijing
business days): an unfollow ends the row rather than deleting it, so the number on any
past day is the rows started before its end and not ended by then. Other domains ask
``following`` (one query for a batch of targets): the pages' follow buttons, the
followers-only coupons, the buyer's "following" page."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian.accounts import service as accounts_service
from xiaodian.actor import Actor
from xiaodian.db import MAX_ID
from xiaodian.errors import InvalidInput, NotFound, _
from xiaodian.follows.models import Follow
from xiaodian.merchants import service as merchants_service

KINDS = ("shop", "creator")
TREND_DAYS = 14


def _check(db: Session, actor: Actor, kind: str, target_id: int) -> int:
    user_id = actor.require_user()
    if kind not in KINDS:
        raise InvalidInput(_("One follows a shop or a creator."), code="bad_follow_kind")
    if not (isinstance(target_id, int) and 0 < target_id <= MAX_ID):
        raise NotFound(_("Nothing to follow there."), code="follow_target_not_found")
    if kind == "shop":
        try:
            shop = merchants_service.get_shop(db, target_id)
        except NotFound:
            shop = None
        if shop is None or not shop.is_active:
            raise NotFound(_("Nothing to follow there."), code="follow_target_not_found")
    else:
        user = accounts_service.users_by_ids(db, [target_id]).get(target_id)
        if user is None or not user.is_creator:
            raise NotFound(_("Nothing to follow there."), code="follow_target_not_found")
        if target_id == user_id:
            raise InvalidInput(_("You cannot follow yourself."), code="follow_self")
    return user_id


def follow(db: Session, actor: Actor, *, kind: str, target_id: int) -> bool:
    """Follow (idempotent: following again changes nothing); True when it is new."""
    user_id = _check(db, actor, kind, target_id)
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    table = cast(Table, Follow.__table__)
    stmt = (
        insert(table)
        .values(user_id=user_id, kind=kind, target_id=target_id, created_at=clock.now())
        .on_conflict_do_nothing(
            index_elements=["user_id", "kind", "target_id"],
            index_where=table.c.ended_at.is_(None),
        )
        .returning(table.c.id)
    )
    made = db.execute(stmt).scalar()
    db.commit()
    return made is not None


def unfollow(db: Session, actor: Actor, *, kind: str, target_id: int) -> bool:
    """Stop following now; True when there was a follow to end."""
    user_id = actor.require_user()
    if kind not in KINDS:
        raise InvalidInput(_("One follows a shop or a creator."), code="bad_follow_kind")
    ended = db.execute(
        update(Follow)
        .where(
            Follow.user_id == user_id,
            Follow.kind == kind,
            Follow.target_id == target_id,
            Follow.ended_at.is_(None),
        )
        .values(ended_at=clock.now())
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    db.commit()
    return bool(ended)


def following(db: Session, user_id: int | None, kind: str, target_ids: Iterable[int]) -> set[int]:
    """Which of these targets the user follows now (one query; none for a visitor)."""
    ids = sorted(set(target_ids))
    if user_id is None or not ids:
        return set()
    return set(
        db.scalars(
            select(Follow.target_id).where(
                Follow.user_id == user_id,
                Follow.kind == kind,
                Follow.target_id.in_(ids),
                Follow.ended_at.is_(None),
            )
        )
    )


def followed(db: Session, actor: Actor) -> dict[str, list[int]]:
    """Everything the signed-in buyer follows, newest first, by kind (one query)."""
    user_id = actor.require_user()
    found: dict[str, list[int]] = {kind: [] for kind in KINDS}
    for kind, target_id in db.execute(
        select(Follow.kind, Follow.target_id)
        .where(Follow.user_id == user_id, Follow.ended_at.is_(None))
        .order_by(Follow.id.desc())
        .limit(500)
    ):
        found.setdefault(kind, []).append(target_id)
    return found


def follower_count(db: Session, *, kind: str, target_id: int) -> int:
    """How many follow the target now (one query)."""
    return int(
        db.scalar(
            select(func.count())
            .select_from(Follow)
            .where(Follow.kind == kind, Follow.target_id == target_id, Follow.ended_at.is_(None))
        )
        or 0
    )


@dataclass(frozen=True)
class Followers:
    count: int
    days: list[tuple[date, int]]  # the number at each day's end, oldest first
    before: int = 0  # the number when the first day began

    @property
    def change(self) -> int:
        """Over the days listed: from the first day's start to now."""
        return self.count - self.before


def followers(db: Session, *, kind: str, target_id: int, now: datetime | None = None) -> Followers:
    """A shop's or creator's followers now and at the end of each of the last 14 days
    (three queries: the number now, and the follows and unfollows of the window)."""
    now = now or clock.now()
    today = now.astimezone(clock.BUSINESS_TZ).date()
    start = datetime.combine(
        today - timedelta(days=TREND_DAYS - 1), datetime.min.time(), clock.BUSINESS_TZ
    )
    mine = (Follow.kind == kind, Follow.target_id == target_id)
    count = (
        db.scalar(select(func.count()).select_from(Follow).where(*mine, Follow.ended_at.is_(None)))
        or 0
    )
    gained = [
        clock.as_utc(at)
        for at in db.scalars(select(Follow.created_at).where(*mine, Follow.created_at >= start))
    ]
    lost = [
        clock.as_utc(at)
        for at in db.scalars(select(Follow.ended_at).where(*mine, Follow.ended_at >= start))
        if at is not None
    ]
    days = []
    for back in range(TREND_DAYS):
        day = today - timedelta(days=back)
        end = datetime.combine(day + timedelta(days=1), datetime.min.time(), clock.BUSINESS_TZ)
        after_gain = sum(1 for at in gained if at >= end)
        after_loss = sum(1 for at in lost if at >= end)
        days.append((day, int(count) - after_gain + after_loss))
    before = int(count) - len(gained) + len(lost)
    return Followers(count=int(count), days=list(reversed(days)), before=before)


def shop_followers(db: Session, actor: Actor, shop_id: int) -> Followers:
    """The shop's followers (its staff)."""
    actor.require_shop(shop_id)
    found = followers(db, kind="shop", target_id=shop_id)
    db.commit()
    return found
