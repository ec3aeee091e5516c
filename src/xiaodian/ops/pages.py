"""The operator console: the /ops dashboard (queues waiting for a decision)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from xiaodian.merchants import applications as merchant_applications
from xiaodian.web.deps import CurrentActor, DbDep
from xiaodian.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/ops")
def dashboard(request: Request, db: DbDep, actor: CurrentActor) -> Response:
    """Counts of what waits for operators; each card links to its queue."""
    if not actor.is_authenticated:
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
    counts = merchant_applications.count_applications(db, actor)
    return render(
        request, "ops/dashboard.html", {"section": "overview", "application_counts": counts}
    )
