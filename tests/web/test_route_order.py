"""The app tries its routers in turn (the everyday purchase's first, for speed): that is
only safe while no two routers answer the same path, so the order of routers never decides
which handler runs."""

from __future__ import annotations

import re
from typing import Any

from fastapi.routing import _IncludedRouter
from starlette.routing import Match


def _routes(app: Any) -> list[tuple[int, str, str, Any]]:
    """(router index, method, full path template, route) of every route of the app."""
    out = []
    for index, included in enumerate(app.router.routes):
        if not isinstance(included, _IncludedRouter):
            continue
        prefix = included.include_context.prefix or ""
        for route in included.original_router.routes:
            for method in sorted(getattr(route, "methods", None) or {"GET"}):
                out.append((index, method, prefix + route.path, route))
    return out


def test_no_two_routers_answer_the_same_path(app: Any) -> None:
    routes = _routes(app)
    assert len(routes) > 100
    clashes = []
    for index, method, path, _route in routes:
        for sample in ("1", "abc"):
            concrete = re.sub(r"\{[^}]+\}", sample, path)
            scope = {"type": "http", "method": method, "path": concrete, "root_path": ""}
            owners = {
                other
                for other, included in enumerate(app.router.routes)
                if isinstance(included, _IncludedRouter)
                and included.matches(dict(scope))[0] == Match.FULL
            }
            if sample == "1" and index not in owners:
                clashes.append((method, concrete, "not found by its own router"))
            if owners - {index}:
                clashes.append((method, concrete, sorted(owners)))
    assert clashes == []
