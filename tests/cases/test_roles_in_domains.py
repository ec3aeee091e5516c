"""A role means the same in the queue and in the action: an operator whose roles do not
work a queue cannot decide its subjects either (asked before anything is read), and one
whose roles do gets past the check (to the subject's own 404 here)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from xiaodian.actor import Actor
from xiaodian.aftersales import arbitration
from xiaodian.cases import service as cases_service
from xiaodian.catalog import review
from xiaodian.content import moderation, videos
from xiaodian.db import Database
from xiaodian.errors import NotFound, PermissionDenied
from xiaodian.ledger import reconciliation, withdrawals
from xiaodian.merchants import applications
from xiaodian.violations import appeals

MISSING = 999_999

ACTIONS: list[tuple[str, str, Callable[[Any, Actor], Any]]] = [
    (
        "reviewer",
        "approve an application",
        lambda db, a: applications.approve_application(db, a, MISSING),
    ),
    (
        "reviewer",
        "reject an application",
        lambda db, a: applications.reject_application(db, a, MISSING, reason="资料不全"),
    ),
    ("reviewer", "approve a product", lambda db, a: review.approve(db, a, MISSING)),
    ("reviewer", "reject a product", lambda db, a: review.reject(db, a, MISSING, "图片不清")),
    (
        "reviewer",
        "remove a video",
        lambda db, a: videos.remove_video(db, a, MISSING, reason="违规"),
    ),
    ("reviewer", "restore a video", lambda db, a: moderation.restore_video(db, a, MISSING)),
    ("reviewer", "clear a flag", lambda db, a: moderation.clear_flag(db, a, MISSING)),
    (
        "arbitrator",
        "arbitrate",
        lambda db, a: arbitration.arbitrate(db, a, MISSING, decision="uphold", note="证据不足"),
    ),
    (
        "arbitrator",
        "decide an appeal",
        lambda db, a: appeals.decide(db, a, MISSING, accept=True, note="属实"),
    ),
    ("finance", "approve a withdrawal", lambda db, a: withdrawals.approve(db, a, MISSING)),
    (
        "finance",
        "reject a withdrawal",
        lambda db, a: withdrawals.reject(db, a, MISSING, reason="账户异常"),
    ),
    (
        "finance",
        "resolve a break",
        lambda db, a: reconciliation.resolve_break(db, a, MISSING, note="已核对"),
    ),
]


@pytest.mark.parametrize(("role", "what", "act"), ACTIONS, ids=[a[1] for a in ACTIONS])
def test_only_the_queues_roles_decide(
    database: Database, make_user: Any, role: str, what: str, act: Callable[[Any, Actor], Any]
) -> None:
    admin = Actor(user_id=make_user(operator=True).id, is_operator=True)
    wrong = Actor(user_id=make_user(operator=True).id, is_operator=True)
    right = Actor(user_id=make_user(operator=True).id, is_operator=True)
    other = {"reviewer": "finance", "arbitrator": "reviewer", "finance": "arbitrator"}[role]
    with database.session() as db:
        cases_service.set_roles(db, admin, wrong.user_id, [other])
        cases_service.set_roles(db, admin, right.user_id, [role])
    with database.session() as db, pytest.raises(PermissionDenied) as refused:
        act(db, wrong)
    assert refused.value.code == "not_your_queue", what
    with database.session() as db, pytest.raises(NotFound):
        act(db, right)
    with database.session() as db, pytest.raises(NotFound):
        act(db, admin)  # no role recorded: an admin
