"""Jinja2 templates shared by every domain's pages."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates

from xiaodian.clock import BUSINESS_TZ
from xiaodian.money import format_fen

TEMPLATE_DIR = Path(__file__).parent / "templates"


def _context(request: Request) -> dict[str, Any]:
    state = request.state
    return {
        "_": getattr(state, "gettext", lambda s: s),
        "locale": getattr(state, "locale", "zh_CN"),
        "actor": getattr(state, "actor", None),
        "csrf_token": getattr(state, "csrf_token", ""),
    }


def _local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return value.astimezone(BUSINESS_TZ).strftime(fmt) if value else ""


def _media(path: str | None) -> str:
    return f"/media/{path}" if path else "/static/placeholder.svg"


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATE_DIR), context_processors=[_context])
    env = templates.env
    env.filters["fen"] = format_fen
    env.filters["local_time"] = _local_time
    env.filters["media"] = _media
    env.globals["format_fen"] = format_fen
    return templates


templates = make_templates()


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> Any:
    return templates.TemplateResponse(request, name, context or {}, status_code=status_code)
