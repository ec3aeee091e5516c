"""The coupon claim on the web fast path (``xiaodian.web.fastpath``).

A live room's coupon is claimed by thousands within seconds and, once the last one went,
every claim gets the same refusal, which ``claims`` remembers. Such a claim with a bearer
token is answered here: who is asking is checked first, as on the documented route (401 to
anyone not signed in), then the remembered refusal (409, the route's body). Every other
claim, and every claim from the browser (the CSRF rules), goes through the app.
"""

from __future__ import annotations

import re

from xiaodian.campaigns import claims
from xiaodian.web.fastpath import ID, Hot, HotRoute

CLAIM_PATH = re.compile(rf"^/api/v1/coupons/{ID}/claim$")


async def claim(hot: Hot, found: re.Match[str]) -> bool:
    if not hot.token:
        return False
    refusal = claims.remembered_refusal(int(found.group(1)))
    if refusal is None:
        return False
    (await hot.actor()).require_user()
    raise refusal


ROUTES = (HotRoute("POST", CLAIM_PATH, claim),)
