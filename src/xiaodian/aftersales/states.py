"""The after-sales state machine: the one table of transitions, and labels for display.

::

    requested ─approve─► approved ─start_refund─► refunding ─settle─► refunded   (仅退款)
        │                   │
        │                   └─ship_back─► awaiting_return ─confirm_return─► returned
        │                                                    returned ─start_refund─► refunding
        │                                                    returned ─reship─► reshipped
        │                                                    reshipped ─confirm_exchange─► completed
        ├─reject─► rejected ─escalate─► escalated ─arbitrate_approve─► approved
        │              │                    └─arbitrate_uphold─► closed
        │              └─expire_escalation─► closed
        └─withdraw─► cancelled   (also from approved, before the goods are sent back)

Who may fire each transition (its role) and for which kinds of case is part of the table;
anything else raises IllegalTransition (409).
"""

from __future__ import annotations

from dataclasses import dataclass

from xiaodian import transitions
from xiaodian.aftersales.models import CaseKind, CaseReason, CaseStatus
from xiaodian.errors import IllegalTransition, _

S = CaseStatus
K = CaseKind
ALL_KINDS = frozenset(CaseKind)
GOODS_BACK = frozenset({K.RETURN_REFUND, K.EXCHANGE})
MONEY_BACK = frozenset({K.REFUND_ONLY, K.RETURN_REFUND})


@dataclass(frozen=True)
class Transition(transitions.Transition[CaseStatus]):
    """A row of the table: also who may fire it, and for which kinds of case."""

    roles: frozenset[str]
    kinds: frozenset[CaseKind] = ALL_KINDS


def _t(
    sources: set[CaseStatus],
    target: CaseStatus,
    roles: set[str],
    kinds: frozenset[CaseKind] = ALL_KINDS,
) -> Transition:
    return Transition(frozenset(sources), target, frozenset(roles), kinds)


TRANSITIONS: dict[str, Transition] = {
    "approve": _t({S.REQUESTED}, S.APPROVED, {"merchant", "system"}),
    "reject": _t({S.REQUESTED}, S.REJECTED, {"merchant"}),
    "withdraw": _t({S.REQUESTED, S.APPROVED}, S.CANCELLED, {"buyer"}),
    "escalate": _t({S.REJECTED}, S.ESCALATED, {"buyer"}),
    "expire_escalation": _t({S.REJECTED}, S.CLOSED, {"system"}),
    "arbitrate_approve": _t({S.ESCALATED}, S.APPROVED, {"operator"}),
    "arbitrate_uphold": _t({S.ESCALATED}, S.CLOSED, {"operator"}),
    "ship_back": _t({S.APPROVED}, S.AWAITING_RETURN, {"buyer"}, GOODS_BACK),
    "confirm_return": _t({S.AWAITING_RETURN}, S.RETURNED, {"merchant"}, GOODS_BACK),
    "start_refund": _t(
        {S.APPROVED, S.RETURNED}, S.REFUNDING, {"merchant", "operator", "system"}, MONEY_BACK
    ),
    "settle": _t({S.REFUNDING}, S.REFUNDED, {"payment"}, MONEY_BACK),
    "reship": _t({S.RETURNED}, S.RESHIPPED, {"merchant"}, frozenset({K.EXCHANGE})),
    "confirm_exchange": _t(
        {S.RESHIPPED}, S.COMPLETED, {"buyer", "system"}, frozenset({K.EXCHANGE})
    ),
}

# A refund-only case goes straight from approved to refunding; a return waits for the
# goods: start_refund from ``approved`` is only for refund-only cases.
_REFUND_FROM = {K.REFUND_ONLY: S.APPROVED, K.RETURN_REFUND: S.RETURNED}

# While a case is in one of these, it holds its line (or order) and keeps the order open.
OPEN = frozenset(
    {
        S.REQUESTED,
        S.APPROVED,
        S.ESCALATED,
        S.AWAITING_RETURN,
        S.RETURNED,
        S.REFUNDING,
        S.RESHIPPED,
    }
)


def check(action: str, status: CaseStatus, kind: CaseKind, role: str) -> Transition:
    """The transition ``action`` from ``status``, or IllegalTransition saying why not."""
    step = TRANSITIONS[action]
    if role not in step.roles:
        raise IllegalTransition(_("You cannot do this to an after-sales case."), code="bad_role")
    refund_from = action != "start_refund" or status == _REFUND_FROM.get(kind)
    return transitions.check(
        TRANSITIONS,
        action,
        status,
        REFUSALS[status],
        code=f"case_{status}",
        allowed=kind in step.kinds and refund_from,
    )


# What each role does by hand (the rest happen on their own).
BUTTONS: dict[str, tuple[str, ...]] = {
    "buyer": ("withdraw", "ship_back", "escalate", "confirm_exchange"),
    "merchant": ("approve", "reject", "confirm_return", "reship"),
    "operator": ("arbitrate_approve", "arbitrate_uphold"),
}


def allowed(status: CaseStatus, kind: CaseKind, role: str) -> set[str]:
    """The actions ``role`` could take now by hand (for buttons; the service checks)."""
    result = set()
    for action in BUTTONS.get(role, ()):
        try:
            check(action, status, kind, role)
        except IllegalTransition:
            continue
        result.add(action)
    return result


STATUS_LABELS: dict[CaseStatus, str] = {
    S.REQUESTED: _("Awaiting the merchant"),
    S.APPROVED: _("Approved"),
    S.REJECTED: _("Rejected"),
    S.ESCALATED: _("In arbitration"),
    S.AWAITING_RETURN: _("Goods on the way back"),
    S.RETURNED: _("Goods received by the merchant"),
    S.REFUNDING: _("Refunding"),
    S.REFUNDED: _("Refunded"),
    S.RESHIPPED: _("Replacement shipped"),
    S.COMPLETED: _("Completed"),
    S.CLOSED: _("Closed"),
    S.CANCELLED: _("Withdrawn"),
}

# Why an action is refused, by the status the case is actually in.
REFUSALS: dict[CaseStatus, str] = {
    S.REQUESTED: _("This case is still waiting for the merchant's answer."),
    S.APPROVED: _("This case has already been approved."),
    S.REJECTED: _("This case has been rejected."),
    S.ESCALATED: _("This case is being decided by the platform."),
    S.AWAITING_RETURN: _("The returned goods are on their way to the merchant."),
    S.RETURNED: _("The merchant has already received the returned goods."),
    S.REFUNDING: _("The refund of this case is already under way."),
    S.REFUNDED: _("This case has already been refunded."),
    S.RESHIPPED: _("The replacement has already been shipped."),
    S.COMPLETED: _("This case is already completed."),
    S.CLOSED: _("This case is closed."),
    S.CANCELLED: _("This case was withdrawn."),
}

KIND_LABELS: dict[CaseKind, str] = {
    K.REFUND_ONLY: _("Refund only"),
    K.RETURN_REFUND: _("Return and refund"),
    K.EXCHANGE: _("Exchange"),
}

REASON_LABELS: dict[CaseReason, str] = {
    CaseReason.NO_LONGER_WANTED: _("No longer wanted"),
    CaseReason.WRONG_ITEM_ORDERED: _("Ordered by mistake"),
    CaseReason.QUALITY: _("Quality problem"),
    CaseReason.NOT_AS_DESCRIBED: _("Not as described"),
    CaseReason.MISSING_ITEMS: _("Missing items"),
    CaseReason.OTHER: _("Other"),
}

# Reasons that are the merchant's fault. The others are "no reason" (七天无理由) returns.
FAULT_REASONS = frozenset(
    {CaseReason.QUALITY, CaseReason.NOT_AS_DESCRIBED, CaseReason.MISSING_ITEMS}
)

ACTION_LABELS: dict[str, str] = {
    "open": _("Request submitted"),
    "approve": _("Approved"),
    "reject": _("Rejected"),
    "withdraw": _("Withdrawn"),
    "escalate": _("Escalated to the platform"),
    "expire_escalation": _("Closed: not escalated in time"),
    "arbitrate_approve": _("Platform ruled for the buyer"),
    "arbitrate_uphold": _("Platform upheld the rejection"),
    "ship_back": _("Goods sent back"),
    "confirm_return": _("Returned goods received"),
    "start_refund": _("Refund started"),
    "settle": _("Refund completed"),
    "refund_failed": _("Refund failed"),
    "reship": _("Replacement shipped"),
    "confirm_exchange": _("Replacement received"),
}

ROLE_LABELS: dict[str, str] = {
    "buyer": _("Buyer"),
    "merchant": _("Merchant"),
    "operator": _("Platform"),
    "system": _("System"),
    "payment": _("Payment"),
}
