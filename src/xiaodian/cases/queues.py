"""The queues and their rules: who works a queue (the platform's operators by role, or the
shop's own staff), how long a case may wait (its SLA), whether it may be paused.

Adding a queue is adding a line here and calling ``cases.service.open_case`` /
``close_case`` where its domain opens and ends its subjects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from xiaodian.errors import _

ROLES = ("reviewer", "arbitrator", "finance", "admin")
ROLE_LABELS = {
    "reviewer": _("Reviewer"),
    "arbitrator": _("Arbitrator"),
    "finance": _("Finance"),
    "admin": _("Admin"),
}

ACTIONS = {
    "opened": _("opened"),
    "claimed": _("claimed"),
    "released": _("released"),
    "handed": _("handed over"),
    "resumed": _("clock restarted"),
    "extended": _("deadline extended"),
    "closed": _("closed"),
}


@dataclass(frozen=True)
class Queue:
    name: str
    label: str
    side: str  # "platform" (operators) or "merchant" (the shop's staff)
    roles: tuple[str, ...]  # who may act (admin always may), platform side
    sla: timedelta  # from opening to breach
    pausable: bool = False  # waiting on the other party stops the clock


QUEUES: dict[str, Queue] = {
    q.name: q
    for q in (
        Queue(
            "shop_applications",
            _("Shop applications"),
            "platform",
            ("reviewer",),
            timedelta(hours=48),
        ),
        Queue(
            "product_reviews",
            _("Products to review"),
            "platform",
            ("reviewer",),
            timedelta(hours=24),
        ),
        Queue(
            "video_moderation",
            _("Videos to moderate"),
            "platform",
            ("reviewer",),
            timedelta(hours=24),
        ),
        Queue(
            "aftersales_escalations",
            _("After-sales escalations"),
            "platform",
            ("arbitrator",),
            timedelta(hours=72),
            pausable=True,
        ),
        Queue("appeals", _("Appeals"), "platform", ("arbitrator",), timedelta(hours=72)),
        Queue("withdrawals", _("Withdrawals"), "platform", ("finance",), timedelta(hours=24)),
        Queue(
            "reconciliation",
            _("Reconciliation breaks"),
            "platform",
            ("finance",),
            timedelta(hours=24),
        ),
        # the merchant's side
        Queue("orders_to_ship", _("Orders to ship"), "merchant", (), timedelta(hours=48)),
        Queue(
            "aftersales_answers", _("After-sales to answer"), "merchant", (), timedelta(hours=48)
        ),
        Queue("violations", _("Violations to fix or appeal"), "merchant", (), timedelta(days=3)),
        Queue("parcels", _("Parcels to chase"), "merchant", (), timedelta(hours=24)),
        Queue("samples", _("Sample requests to answer"), "merchant", (), timedelta(hours=48)),
    )
}


def get(name: str) -> Queue:
    return QUEUES[name]


def platform_queues() -> list[Queue]:
    return [q for q in QUEUES.values() if q.side == "platform"]


def merchant_queues() -> list[Queue]:
    return [q for q in QUEUES.values() if q.side == "merchant"]


def may_act(queue: Queue, roles: frozenset[str]) -> bool:
    """An operator with these roles may act on the queue's cases."""
    return "admin" in roles or any(role in roles for role in queue.roles)
