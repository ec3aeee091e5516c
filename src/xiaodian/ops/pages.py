"""The operator console: the /ops dashboard (queues waiting for a decision)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from xiaodian import clock
from xiaodian.aftersales import arbitration as aftersales_arbitration
from xiaodian.cases import views as cases_views
from xiaodian.catalog import review as catalog_review
from xiaodian.content import moderation
from xiaodian.health import service as health_service
from xiaodian.merchants import applications as merchant_applications
from xiaodian.payments import service as payments_service
from xiaodian.web import routing
from xiaodian.web.deps import DbDep, PageUser
from xiaodian.web.templating import render

router = routing.router(include_in_schema=False)


@router.get("/ops")
def dashboard(request: Request, db: DbDep, actor: PageUser) -> Response:
    """Counts of what waits for operators, each from its domain; each card links to its queue."""
    counts = merchant_applications.count_applications(db, actor)
    waiting = {
        "review": catalog_review.count_review_queue(db, actor),
        "arbitration": aftersales_arbitration.count_arbitration(db, actor),
        "flagged_videos": moderation.count_flagged(db, actor),
        "refused_notifications": payments_service.count_refused_notifications_today(db, actor),
        "failed_refunds": payments_service.count_failed_refunds(db, actor),
    }
    return render(
        request,
        "ops/dashboard.html",
        {
            "section": "overview",
            "application_counts": counts,
            "waiting": waiting,
            "health": health_service.count_restricted(db, actor),
            "queues": cases_views.home(db, actor),
            "now": clock.now(),
        },
    )
