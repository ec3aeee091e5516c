"""Sign in with WeChat, and the sandbox's WeChat (its authorize page and its APIs).

Inside WeChat's browser a page that needs a signed-in visitor sends them to WeChat's
authorization instead of the sign-in form (``sign_in_url``, installed by ``create_app``);
outside WeChat nothing changes. Whatever goes wrong on the way back (a forged or used
``state``, a cancelled authorization, a refused code) ends on the ordinary sign-in form,
with the reason.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import Form, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from xiaodian.accounts.pages import signed_in
from xiaodian.db import Database
from xiaodian.errors import DomainError, InvalidInput, _
from xiaodian.web import forms, routing, templating
from xiaodian.web.deps import CurrentActor, DbDep, PageUser, safe_next
from xiaodian.web.templating import render
from xiaodian.wechat import messages, oauth, sandbox, service

router = routing.router(include_in_schema=False)


def share_context(request: Request) -> dict[str, bool] | None:
    """For ``wechat/_share.html``: inside WeChat, whether the JS-SDK is the sandbox's."""
    if not service.is_wechat(request.headers.get("user-agent")):
        return None
    return {"sandbox": service.is_sandbox()}


templating.templates.env.globals["wechat_share"] = share_context

OAUTH_COOKIE = "xd_wx_oauth"
PENDING_COOKIE = "xd_wx_pending"
SANDBOX_USER_COOKIE = "xd_sandbox_wx"  # the sandbox's "phone": who is using WeChat
CALLBACK = "/wechat/oauth/callback"
Text = Annotated[str, Query(max_length=300)]


def sign_in_url(request: Request, next_path: str) -> str | None:
    """Inside WeChat: sign in through WeChat's authorization; elsewhere None (the form)."""
    if not service.is_wechat(request.headers.get("user-agent")):
        return None
    return "/wechat/oauth/start?" + urlencode({"next": next_path})


def _redirect_uri(request: Request) -> str:
    if service.is_sandbox():
        return str(request.base_url).rstrip("/") + CALLBACK
    return request.app.state.settings.public_base_url.rstrip("/") + CALLBACK


def _cookie(request: Request, response: Response, name: str, value: str, seconds: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=seconds,
        httponly=True,
        samesite="lax",
        secure=request.app.state.settings.cookie_secure,
        path="/wechat",
    )


def _go(request: Request, begin: oauth.Begin) -> Response:
    response = RedirectResponse(begin.url, status_code=303)
    _cookie(request, response, OAUTH_COOKIE, begin.cookie, oauth.STATE_SECONDS)
    return response


def _fallback(request: Request, exc: DomainError, next_path: str) -> Response:
    """The ordinary sign-in form, with why signing in with WeChat did not work."""
    ctx = {"next": safe_next(next_path), "error": forms.message(request, exc)}
    status = exc.status_code if exc.status_code < 500 else 200
    return render(request, "accounts/login.html", ctx, status_code=status)


@router.get("/wechat/oauth/start")
def start(request: Request, next: Text = "/", scope: Text = "snsapi_base") -> Response:
    """Off to WeChat's authorization (snsapi_base: silent; snsapi_userinfo: consent)."""
    begin = oauth.begin(next_path=safe_next(next), scope=scope, redirect_uri=_redirect_uri(request))
    return _go(request, begin)


@router.get(CALLBACK)
def callback(request: Request, code: Text = "", state: Text = "") -> Response:
    """WeChat sends the browser back here with ``code`` and ``state``."""
    database: Database = request.app.state.db
    cookie = request.cookies.get(OAUTH_COOKIE)
    try:
        with database.session(write=True) as db:
            done = oauth.finish(
                db, code=code, state=state, cookie=cookie, redirect_uri=_redirect_uri(request)
            )
    except DomainError as exc:
        return _fallback(request, exc, "/")
    if done.again is not None:
        return _go(request, done.again)
    if done.pending is not None:
        response: Response = RedirectResponse("/wechat/welcome", status_code=303)
        _cookie(request, response, PENDING_COOKIE, done.pending, oauth.PENDING_SECONDS)
    else:
        assert done.token is not None
        response = signed_in(request, done.token, done.next_path)
    response.delete_cookie(OAUTH_COOKIE, path="/wechat")
    return response


def _welcome_context(request: Request) -> dict[str, Any]:
    who, next_path = oauth.pending_user(request.cookies.get(PENDING_COOKIE))
    return {"who": who, "next": next_path}


@router.get("/wechat/welcome")
def welcome(request: Request, actor: CurrentActor) -> Response:
    """A new WeChat user: make a buyer account, or link the one they have."""
    try:
        ctx = _welcome_context(request)
    except DomainError as exc:
        return _fallback(request, exc, "/")
    return render(request, "wechat/welcome.html", ctx)


def _welcomed(request: Request, result: tuple[str, str]) -> Response:
    token, next_path = result
    response = signed_in(request, token, next_path)
    response.delete_cookie(PENDING_COOKIE, path="/wechat")
    return response


@router.post("/wechat/welcome/new")
def welcome_new(request: Request, db: DbDep) -> Response:
    """Make a buyer account for this WeChat user, signed in."""
    return forms.submit(
        request,
        db,
        lambda: oauth.create_account(db, cookie=request.cookies.get(PENDING_COOKIE)),
        done=lambda result: _welcomed(request, result),
        template="wechat/welcome.html",
        context=lambda: _welcome_context(request),
        page_errors=(),
    )


@router.post("/wechat/welcome/link")
def welcome_link(
    request: Request,
    db: DbDep,
    login: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=200)],
) -> Response:
    """Link this WeChat user to an account, signing in once with its phone and password."""
    return forms.submit(
        request,
        db,
        lambda: oauth.link_account(
            db, cookie=request.cookies.get(PENDING_COOKIE), login=login, password=password
        ),
        done=lambda result: _welcomed(request, result),
        template="wechat/welcome.html",
        context=lambda: _welcome_context(request),
        values={"login": login},
    )


# --------------------------------------------------------------------------- messages


@router.get("/wechat/messages")
def messages_page(request: Request, db: DbDep, actor: PageUser) -> Response:
    """Whether the buyer gets order messages in WeChat; subscribe or refuse."""
    ctx = {"subscribed": messages.consent(db, actor), "sandbox": service.is_sandbox()}
    return render(request, "wechat/messages.html", ctx)


@router.post("/wechat/messages")
def messages_consent(
    request: Request,
    db: DbDep,
    actor: PageUser,
    subscribe: Annotated[int, Form(ge=0, le=1)],
) -> Response:
    """Subscribe to order messages (1) or refuse them (0)."""
    return forms.submit(
        request,
        db,
        lambda: messages.set_consent(db, actor, subscribed=bool(subscribe)),
        done="/wechat/messages",
        template="wechat/messages.html",
        context=lambda: {"subscribed": messages.consent(db, actor)},
    )


# --------------------------------------------------------------------------- the sandbox


@router.get("/sandbox/wechat/outbox")
def sandbox_outbox(request: Request, db: DbDep, actor: PageUser) -> Response:
    """What the sandbox's WeChat delivered: a buyer sees their own, an operator all."""
    _sandbox_only()
    ctx = {"messages": sandbox.outbox_for(db, actor)}
    return render(request, "wechat/sandbox_outbox.html", ctx)


def _sandbox_only() -> None:
    if not service.is_sandbox():
        raise InvalidInput(_("The WeChat sandbox is off."), code="sandbox_off")


def _check_redirect(request: Request, redirect_uri: str) -> str:
    """WeChat sends the code only to the OAuth domain set in the back office; the sandbox's
    is this site."""
    target = urlsplit(redirect_uri)
    if target.netloc != request.url.netloc or target.scheme not in ("http", "https"):
        raise InvalidInput(
            _("redirect_uri is not on the official account's OAuth domain."),
            code="redirect_uri_mismatch",
        )
    return redirect_uri


def _back(redirect_uri: str, **params: str) -> Response:
    joiner = "&" if "?" in redirect_uri else "?"
    return RedirectResponse(redirect_uri + joiner + urlencode(params), status_code=303)


@router.get(oauth.SANDBOX_AUTHORIZE)
def sandbox_authorize(
    request: Request,
    appid: Text = "",
    redirect_uri: Text = "",
    response_type: Text = "code",
    scope: Text = "snsapi_base",
    state: Text = "",
) -> Response:
    """The sandbox's authorization page: which WeChat user is on this phone, and consent."""
    _sandbox_only()
    _check_redirect(request, redirect_uri)
    remembered = request.cookies.get(SANDBOX_USER_COOKIE, "")
    database: Database = request.app.state.db
    with database.session(write=True) as db:
        users = sandbox.users(db)
        current = next((u for u in users if u.openid == remembered), None)
        if current is not None and scope == "snsapi_base":  # silent, as WeChat's is
            code = sandbox.authorize(db, openid=current.openid, appid=appid, scope=scope)
            return _back(redirect_uri, code=code, state=state)
    ctx = {
        "users": users,
        "current": current,
        "params": {"appid": appid, "redirect_uri": redirect_uri, "scope": scope, "state": state},
    }
    return render(request, "wechat/sandbox_authorize.html", ctx)


@router.post(oauth.SANDBOX_AUTHORIZE)
def sandbox_authorize_answer(
    request: Request,
    db: DbDep,
    appid: Annotated[str, Form(max_length=32)],
    redirect_uri: Annotated[str, Form(max_length=300)],
    scope: Annotated[str, Form(max_length=20)],
    state: Annotated[str, Form(max_length=128)] = "",
    action: Annotated[str, Form(max_length=10)] = "allow",
    openid: Annotated[str, Form(max_length=128)] = "",
    nickname: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Allow (as a listed user, or one made now) or refuse; back to ``redirect_uri``."""
    _sandbox_only()
    _check_redirect(request, redirect_uri)
    if action == "deny":  # no code: the authorization was refused
        return _back(redirect_uri, state=state)
    if action == "new":
        openid = sandbox.make_user(db, nickname=nickname).openid
    code = sandbox.authorize(db, openid=openid, appid=appid, scope=scope)
    response = _back(redirect_uri, code=code, state=state)
    response.set_cookie(SANDBOX_USER_COOKIE, openid, max_age=30 * 86400, samesite="lax")
    return response


def _sandbox_api(request: Request, call: Any) -> Response:
    _sandbox_only()
    database: Database = request.app.state.db
    with database.session(write=True) as db:
        answer = call(sandbox.SandboxServers(db))
        db.commit()
    return JSONResponse(answer)


@router.get("/sandbox/wechat/sns/oauth2/access_token")
def sandbox_oauth_token(
    request: Request, appid: Text = "", secret: Text = "", code: Text = "", grant_type: Text = ""
) -> Response:
    """WeChat's code exchange: openid (and unionid), or errcode 40029 / 40163."""
    if grant_type != "authorization_code":
        return JSONResponse({"errcode": 40002, "errmsg": "invalid grant_type"})
    return _sandbox_api(
        request, lambda s: s.oauth_access_token(appid=appid, secret=secret, code=code)
    )


@router.get("/sandbox/wechat/sns/userinfo")
def sandbox_userinfo(request: Request, access_token: Text = "", openid: Text = "") -> Response:
    return _sandbox_api(request, lambda s: s.userinfo(access_token=access_token, openid=openid))


@router.get("/sandbox/wechat/cgi-bin/token")
def sandbox_token(
    request: Request, grant_type: Text = "", appid: Text = "", secret: Text = ""
) -> Response:
    if grant_type != "client_credential":
        return JSONResponse({"errcode": 40002, "errmsg": "invalid grant_type"})
    return _sandbox_api(request, lambda s: s.access_token(appid=appid, secret=secret))


@router.get("/sandbox/wechat/cgi-bin/ticket/getticket")
def sandbox_ticket(request: Request, access_token: Text = "", type: Text = "") -> Response:
    if type != "jsapi":
        return JSONResponse({"errcode": 40097, "errmsg": "invalid args"})
    return _sandbox_api(request, lambda s: s.jsapi_ticket(access_token=access_token))
