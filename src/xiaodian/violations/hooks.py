"""The violations' penalties, enforced through the hooks the lower domains own:
- a live limit or a suspension in force: the live rooms refuse a new room for the shop and
  refuse to put one of its rooms on air (``content.live.service.room_check`` and
  ``air_check``, 409 ``violation_no_live``);
- points off: merchant health subtracts them from the shop's score
  (``health.service.deduction_source``), until an accepted appeal returns them.
Imported by ``domains.load``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from xiaodian import clock
from xiaodian.content.live import service as live_service
from xiaodian.errors import Conflict, DomainError, _
from xiaodian.health import service as health_service
from xiaodian.violations import service


@live_service.room_check
@live_service.air_check
def may_sell_live(db: Session, shop_id: int) -> DomainError | None:
    standing = service.standing_live_limit(db, shop_id)
    if standing is None:
        return None
    if standing.penalty_until is None:
        return Conflict(
            _("Violation #%(id)s: no live selling until the platform lifts it."),
            code="violation_no_live",
            id=standing.id,
        )
    return Conflict(
        _("Violation #%(id)s: no live selling until %(until)s."),
        code="violation_no_live",
        id=standing.id,
        until=clock.as_utc(standing.penalty_until)
        .astimezone(clock.BUSINESS_TZ)
        .strftime("%Y-%m-%d %H:%M"),
    )


@health_service.deduction_source
def points_off(db: Session, since: datetime, shop_ids: list[int]) -> list[service.Deduction]:
    return service.deductions(db, since, shop_ids)
