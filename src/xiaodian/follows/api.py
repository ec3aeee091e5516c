"""The follows' JSON API: follow and unfollow a shop or a creator, what the buyer follows,
and a shop's followers (its staff)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from fastapi import status
from pydantic import BaseModel

from xiaodian.follows import service
from xiaodian.web import routing
from xiaodian.web.deps import DbDep, SignedIn
from xiaodian.web.errors import error_responses
from xiaodian.web.types import BodyId, Id

router = routing.router(tags=["follows"], responses=error_responses(401, 403, 404, 422))

Kind = Literal["shop", "creator"]


class FollowIn(BaseModel):
    kind: Kind
    target_id: BodyId


class FollowOut(BaseModel):
    kind: str
    target_id: int
    following: bool


class FollowingOut(BaseModel):
    shops: list[int]
    creators: list[int]


class DayOut(BaseModel):
    day: date
    followers: int


class FollowersOut(BaseModel):
    count: int
    change: int  # over the days listed
    days: list[DayOut]


@router.post("/follows", status_code=status.HTTP_201_CREATED)
def follow(body: FollowIn, db: DbDep, actor: SignedIn) -> FollowOut:
    """Follow a shop or a creator (following again changes nothing)."""
    service.follow(db, actor, kind=body.kind, target_id=body.target_id)
    return FollowOut(kind=body.kind, target_id=body.target_id, following=True)


@router.delete("/follows/{kind}/{target_id}")
def unfollow(kind: Kind, target_id: Id, db: DbDep, actor: SignedIn) -> FollowOut:
    """Stop following, at once."""
    service.unfollow(db, actor, kind=kind, target_id=target_id)
    return FollowOut(kind=kind, target_id=target_id, following=False)


@router.get("/me/following")
def my_following(db: DbDep, actor: SignedIn) -> FollowingOut:
    """The shops and creators the buyer follows, newest first."""
    found = service.followed(db, actor)
    return FollowingOut(shops=found["shop"], creators=found["creator"])


@router.get("/merchant/shops/{shop_id}/followers")
def shop_followers(shop_id: Id, db: DbDep, actor: SignedIn) -> FollowersOut:
    """The shop's followers now and at the end of each of the last 14 days (its staff)."""
    found = service.shop_followers(db, actor, shop_id)
    return FollowersOut(
        count=found.count,
        change=found.change,
        days=[DayOut(day=d, followers=n) for d, n in found.days],
    )
