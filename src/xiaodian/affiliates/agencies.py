"""Agencies (机构/团长): accounts that manage creators and take a share of their commission.

An account opens its agency with a share (whole percent, 0-50) and invites creators by
account; a creator accepts, belongs to one agency at a time, and may leave (the agency may
remove them). At payment (``commissions.record_pending``) each member's commission is
split: the agency's part is ``amount x share // 100`` (rounded down), the creator keeps the
rest, so the two add up to the commission exactly. The split follows the membership and the
share at payment; a later change applies to later orders only.

At most ``MAX_PARTIES`` (5) are paid per order (e.g. a creator, their agency, a sharer,
the sharer's agency): beyond that, the smallest shares (ties: the highest payee id) are
not paid, and the merchant keeps them (``cap_parties``).

Each public function is one transaction (commits).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian.accounts import service as accounts_service
from xiaodian.actor import Actor
from xiaodian.affiliates.models import Agency, AgencyMember
from xiaodian.db import MAX_ID
from xiaodian.errors import Conflict, InvalidInput, NotFound, _

MAX_SHARE = 50
MAX_PARTIES = 5
LIST_MAX = 500


def _check(name: str, share_pct: object) -> tuple[str, int]:
    clean = (name or "").strip()
    if not clean or len(clean) > 40:
        raise InvalidInput(_("Give the agency a name (at most 40 characters)."), code="bad_name")
    if (
        not isinstance(share_pct, int)
        or isinstance(share_pct, bool)
        or not 0 <= share_pct <= MAX_SHARE
    ):
        raise InvalidInput(
            _("The agency's share is a whole percent from 0 to %(n)s."),
            code="bad_share",
            n=MAX_SHARE,
        )
    return clean, share_pct


def open_agency(db: Session, actor: Actor, *, name: str, share_pct: int) -> Agency:
    """The signed-in account opens its agency (one per account)."""
    owner = actor.require_user()
    clean, share = _check(name, share_pct)
    if db.scalar(select(Agency.id).where(Agency.owner_id == owner)) is not None:
        raise Conflict(_("You have an agency already."), code="agency_exists")
    agency = Agency(owner_id=owner, name=clean, share_pct=share, created_at=clock.now())
    db.add(agency)
    db.commit()
    return agency


def set_share(db: Session, actor: Actor, *, share_pct: int) -> Agency:
    """Change the agency's share (for orders paid from now on)."""
    agency = _mine(db, actor)
    _name, agency.share_pct = _check(agency.name, share_pct)
    db.commit()
    return agency


def _mine(db: Session, actor: Actor) -> Agency:
    owner = actor.require_user()
    agency = db.scalar(select(Agency).where(Agency.owner_id == owner))
    if agency is None:
        raise NotFound(_("You have no agency."), code="no_agency")
    return agency


def invite(db: Session, actor: Actor, *, login: str) -> AgencyMember:
    """Invite a creator (an account with the creator role) by phone or email."""
    agency = _mine(db, actor)
    user = accounts_service.get_by_login(db, (login or "").strip()[:254])
    if not user.is_creator:
        raise InvalidInput(_("Only creators can join an agency."), code="not_a_creator")
    if user.id == agency.owner_id:
        raise InvalidInput(_("An agency cannot be its own member."), code="own_member")
    open_ = db.scalar(
        select(AgencyMember.id).where(
            AgencyMember.agency_id == agency.id,
            AgencyMember.creator_id == user.id,
            AgencyMember.left_at.is_(None),
        )
    )
    if open_ is not None:
        raise Conflict(_("This creator is invited or a member already."), code="member_exists")
    member = AgencyMember(agency_id=agency.id, creator_id=user.id, invited_at=clock.now())
    db.add(member)
    db.commit()
    return member


def _membership(db: Session, member_id: int) -> AgencyMember:
    found = (
        db.scalar(select(AgencyMember).where(AgencyMember.id == member_id).with_for_update())
        if 0 < member_id <= MAX_ID
        else None
    )
    if found is None:
        raise NotFound(_("Membership not found."), code="member_not_found")
    return found


def accept(db: Session, actor: Actor, member_id: int) -> AgencyMember:
    """The invited creator joins (leaving no other agency behind: one at a time)."""
    creator = actor.require_user()
    member = _membership(db, member_id)
    if member.creator_id != creator:
        raise NotFound(_("Membership not found."), code="member_not_found")
    if member.joined_at is not None or member.left_at is not None:
        raise Conflict(_("This invitation was answered already."), code="answered")
    member.joined_at = clock.now()
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        raise Conflict(
            _("You belong to an agency already: leave it first."), code="in_an_agency"
        ) from None
    return member


def leave(db: Session, actor: Actor, member_id: int) -> AgencyMember:
    """The creator leaves, or the agency removes them (or withdraws an invitation)."""
    user_id = actor.require_user()
    member = _membership(db, member_id)
    agency = db.get(Agency, member.agency_id)
    if user_id not in (member.creator_id, agency.owner_id if agency else None):
        raise NotFound(_("Membership not found."), code="member_not_found")
    if member.left_at is not None:
        raise Conflict(_("This membership has ended already."), code="ended")
    member.left_at = clock.now()
    db.commit()
    return member


@dataclass(frozen=True)
class MemberRow:
    member: AgencyMember
    name: str


@dataclass(frozen=True)
class AgencyPage:
    agency: Agency | None
    members: list[MemberRow]  # joined or invited, not ended
    invitations: list[tuple[AgencyMember, str]]  # to the signed-in creator: (row, agency)
    current: tuple[AgencyMember, str] | None  # the creator's own agency now


def my_agency(db: Session, actor: Actor) -> AgencyPage:
    """The signed-in account's agency and members, and, as a creator, their invitations
    and current agency. A fixed number of queries."""
    user_id = actor.require_user()
    agency = db.scalar(select(Agency).where(Agency.owner_id == user_id))
    members: list[MemberRow] = []
    if agency is not None:
        rows = list(
            db.scalars(
                select(AgencyMember)
                .where(AgencyMember.agency_id == agency.id, AgencyMember.left_at.is_(None))
                .order_by(AgencyMember.id)
                .limit(LIST_MAX)
            )
        )
        users = accounts_service.users_by_ids(db, {r.creator_id for r in rows})
        members = [
            MemberRow(r, users[r.creator_id].display_name if r.creator_id in users else "?")
            for r in rows
        ]
    mine = list(
        db.scalars(
            select(AgencyMember).where(
                AgencyMember.creator_id == user_id, AgencyMember.left_at.is_(None)
            )
        )
    )
    names = dict(
        db.execute(
            select(Agency.id, Agency.name).where(Agency.id.in_({m.agency_id for m in mine}))
        ).all()
    )
    invitations = [(m, names.get(m.agency_id, "?")) for m in mine if m.joined_at is None]
    current = next(((m, names.get(m.agency_id, "?")) for m in mine if m.joined_at), None)
    return AgencyPage(agency, members, invitations, current)


# --------------------------------------------------------------------------- commission


def shares_of(db: Session, creator_ids: Iterable[int]) -> dict[int, tuple[int, int]]:
    """creator -> (the agency's owner, its share) for the creators in an agency now; one
    query. Joins the caller's transaction."""
    wanted = set(creator_ids)
    if not wanted:
        return {}
    rows = db.execute(
        select(AgencyMember.creator_id, Agency.owner_id, Agency.share_pct)
        .join(Agency, Agency.id == AgencyMember.agency_id)
        .where(
            AgencyMember.creator_id.in_(wanted),
            AgencyMember.joined_at.is_not(None),
            AgencyMember.left_at.is_(None),
        )
    ).all()
    return {int(c): (int(o), int(s)) for c, o, s in rows}


def split(amounts: dict[int, int], shares: dict[int, tuple[int, int]]) -> dict[int, int]:
    """Each payee's amount after the agencies took their parts: a member's ``amount x
    share // 100`` goes to their agency's owner, the member keeps the rest (whole fen that
    add up); then at most ``MAX_PARTIES`` payees (``cap_parties``)."""
    out: dict[int, int] = {}
    for payee, amount in amounts.items():
        agency = shares.get(payee)
        part = amount * agency[1] // 100 if agency is not None else 0
        out[payee] = out.get(payee, 0) + amount - part
        if part:
            out[agency[0]] = out.get(agency[0], 0) + part  # type: ignore[index]
    return cap_parties(out)


def cap_parties(amounts: dict[int, int]) -> dict[int, int]:
    """At most ``MAX_PARTIES`` payees: the largest shares (ties: the lower payee id)."""
    paid = {p: a for p, a in amounts.items() if a > 0}
    if len(paid) <= MAX_PARTIES:
        return paid
    kept = sorted(paid.items(), key=lambda item: (-item[1], item[0]))[:MAX_PARTIES]
    return dict(kept)
