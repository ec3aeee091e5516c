"""JSON API of logistics: the tracking service's push (Kuaidi100's subscription push).

Kuaidi100 is no signed-in user: the push is authenticated by its sign alone (MD5 of the
param and the deployment's salt), checked before the param is read.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form

from xiaodian.logistics import kuaidi100, service
from xiaodian.web import routing
from xiaodian.web.deps import DbDep
from xiaodian.web.errors import error_responses

router = routing.router(
    tags=["logistics"],
    responses=error_responses(
        403,
        404,
        422,
        descriptions={
            403: "The sign is not MD5(param + salt): refused, nothing written.",
            404: "No parcel has this carrier and tracking number.",
        },
    ),
)


@router.post("/logistics/kuaidi100/push")
def kuaidi100_push(
    db: DbDep,
    param: Annotated[str, Form(max_length=200_000)],
    sign: Annotated[str, Form(max_length=64)],
) -> dict[str, Any]:
    """A tracking update as Kuaidi100 pushes it; replays change nothing."""
    service.receive_push(db, param=param, sign=sign)
    return kuaidi100.ACCEPTED
