"""Routers whose handlers cost one thread hop and end their transaction before answering.

FastAPI runs a plain ``def`` handler in a worker thread, then validates its return value in
ANOTHER worker thread, and each ``def`` dependency in one more: several hand-offs per
request, each a wake-up of a thread and a wait for a token of the pool of 40. Worse, the
request's session stayed open until its dependency's teardown, after the answer had been
validated: on SQLite a request that had (re)opened a write transaction held the database's
write lock while it waited for a thread, and a crowd holding every thread while waiting for
that lock stopped the server.

``one_hop(handler)`` runs a plain handler in ONE worker thread and closes the request's
session there, before the answer leaves the thread (the ``DbDep`` session is a parameter of
the handler): the transaction ends, the connection goes back to the pool, and anything
read after that (an attribute never loaded) fails loudly instead of silently opening a new
transaction. The answer is then validated on the event loop (the handler is ``async`` to
FastAPI), where an already-built response model costs nothing. Every router of the app is
made by :func:`router`; ``async def`` handlers are left as they are (they await their own
work).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.routing import Match


def _call_then_close(handler: Callable[..., Any], args: Any, kwargs: dict[str, Any]) -> Any:
    try:
        return handler(*args, **kwargs)
    finally:
        for value in kwargs.values():
            if isinstance(value, Session):
                value.close()


def one_hop(handler: Callable[..., Any]) -> Callable[..., Any]:
    """``handler`` (a plain function) as a coroutine that runs it in one worker thread and
    closes its session there; coroutines are returned unchanged."""
    if inspect.iscoroutinefunction(handler):
        return handler

    @functools.wraps(handler)  # FastAPI reads the handler's signature through __wrapped__
    async def run(*args: Any, **kwargs: Any) -> Any:
        return await run_in_threadpool(_call_then_close, handler, args, kwargs)

    run.__one_hop__ = True  # type: ignore[attr-defined]
    return run


class OneHopRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, one_hop(endpoint), **kwargs)


class _Router(APIRouter):
    """Skips itself at once for a path it cannot answer.

    The app tries its routers in turn, and each router tries each of its routes' patterns,
    with the framework's bookkeeping around every try: a request for the eleventh router
    paid for a hundred and fifty failed tries, more than its handler's own work. A route's
    path (the router's, without the include prefix) starts with a literal head (the text
    up to its first parameter), and a path the route matches contains that head; so a
    request path that contains none of the router's heads matches none of its routes, and
    the router says so without trying them. A router with a route whose head is ``/``
    (or that is not a path route) is always tried."""

    _heads: tuple[str, ...] | None = None
    _heads_of = -1  # len(routes) the heads were computed for

    def matches(self, scope: Any) -> tuple[Match, Any]:
        if self._heads_of != len(self.routes):
            self._heads, self._heads_of = _literal_heads(self.routes), len(self.routes)
        heads = self._heads
        if heads is not None:
            path = scope.get("path", "")
            for head in heads:
                if head in path:
                    break
            else:
                return Match.NONE, {}
        return super().matches(scope)


def _literal_heads(routes: list[Any]) -> tuple[str, ...] | None:
    """The shortest distinct literal heads of the routes' paths; None: always try."""
    heads: set[str] = set()
    for route in routes:
        path = getattr(route, "path", None)
        if not isinstance(path, str):
            return None
        head = path.split("{", 1)[0]
        if head in ("", "/"):
            return None
        heads.add(head)
    kept = [h for h in heads if not any(o != h and o in h for o in heads)]
    return tuple(sorted(kept))


def router(**kwargs: Any) -> APIRouter:
    """An ``APIRouter`` whose plain handlers run as :func:`one_hop` describes, and that
    skips itself at once for a path it cannot answer (``_Router``)."""
    return _Router(route_class=OneHopRoute, **kwargs)
