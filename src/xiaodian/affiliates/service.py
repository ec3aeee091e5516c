"""The affiliates domain's face: the row types others may name and the small rules every
module of the domain shares (the rate bounds, a plan in force at a moment).

Promoters (creators, sharers, affiliates) sell a shop's products through plans and tracked
links; the domain listens to the order lifecycle (``attribution.py``) and never asks
orders to know about it.
"""

from __future__ import annotations

from datetime import datetime

from xiaodian.affiliates.models import Link as Link  # re-exported: pages, tests
from xiaodian.affiliates.models import LinkKind as LinkKind  # re-exported
from xiaodian.affiliates.models import Plan as Plan  # re-exported
from xiaodian.affiliates.models import PlanKind as PlanKind  # re-exported
from xiaodian.affiliates.models import Touch as Touch  # re-exported
from xiaodian.errors import InvalidInput, _

MAX_RATE_PCT = 90  # WeChat's 优选联盟 caps a commission at 90% of the line


def check_rate(rate_pct: object) -> int:
    """A whole percent between 0 and 90, or InvalidInput (422)."""
    if not isinstance(rate_pct, int) or isinstance(rate_pct, bool):
        raise InvalidInput(_("The rate must be a whole percent."), code="bad_rate")
    if not 0 <= rate_pct <= MAX_RATE_PCT:
        raise InvalidInput(
            _("The rate must be between 0 and %(max)s percent."), code="bad_rate", max=MAX_RATE_PCT
        )
    return rate_pct


def in_force(plan: Plan, at: datetime) -> bool:
    """Whether ``plan`` applies to an order created at ``at``."""
    return plan.is_active and plan.starts_at <= at and (plan.ends_at is None or at < plan.ends_at)
