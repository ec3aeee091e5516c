"""The JS-SDK configuration a page inside WeChat asks for before it sets its share card."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Query, Request
from pydantic import BaseModel

from xiaodian.errors import InvalidInput, _
from xiaodian.web import routing
from xiaodian.web.errors import error_responses
from xiaodian.wechat import jssdk

router = routing.router(
    tags=["wechat"],
    responses=error_responses(409, 422, 503, descriptions={503: "WeChat cannot be reached"}),
)


class JsSdkConfig(BaseModel):
    """What ``wx.config`` takes (WeChat's field names)."""

    appId: str
    timestamp: int
    nonceStr: str
    signature: str
    jsApiList: list[str]


@router.get("/wechat/jssdk-config")
def jssdk_config(
    request: Request, url: Annotated[str, Query(min_length=1, max_length=1000)]
) -> JsSdkConfig:
    """The signed JS-SDK configuration of a page of this site (its URL, fragment ignored)."""
    page = urlsplit(url)
    ours = {request.url.netloc, urlsplit(request.app.state.settings.public_base_url).netloc}
    if page.scheme not in ("http", "https") or page.netloc not in ours:
        raise InvalidInput(_("The page is not on this site."), code="foreign_url")
    config = jssdk.config(request.app.state.db, url=url)
    return JsSdkConfig(**config.__dict__)
