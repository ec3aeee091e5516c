from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from xiaodian.web import routing

router = routing.router(tags=["health"])


@router.get("/healthz", responses={503: {"description": "The database does not answer"}})
def healthz(request: Request) -> JSONResponse:
    """Liveness and readiness: ok when the database answers."""
    try:
        request.app.state.db.ping()
    except Exception:
        return JSONResponse({"status": "unavailable"}, status_code=503)
    return JSONResponse({"status": "ok"})
