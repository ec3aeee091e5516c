"""Accounts: registration, sign-in with lock-out, sessions and tokens, operators."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import String, any_, bindparam, literal, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xiaodian import bulk, clock, settings
from xiaodian.accounts import security
from xiaodian.accounts.models import AuthSession, WeChatIdentity
from xiaodian.accounts.models import User as User  # re-exported: other domains use this
from xiaodian.actor import ANONYMOUS, Actor
from xiaodian.errors import Conflict, DomainError, InvalidInput, NotFound, _

PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
MIN_PASSWORD = 8

log = logging.getLogger(__name__)

TokenListener = Callable[[str], None]
_revocation_listeners: list[TokenListener] = []
UserListener = Callable[[int], None]
_change_listeners: list[UserListener] = []


class AccountLocked(DomainError):
    status_code = 423
    code = "account_locked"


class BadCredentials(DomainError):
    status_code = 401
    code = "bad_credentials"


def normalize_login(login: str) -> tuple[str, str]:
    """Return ("phone" | "email", normalized value) or raise InvalidInput."""
    value = (login or "").strip()
    digits = value.replace(" ", "").replace("-", "")
    if digits.startswith("+86"):
        digits = digits[3:]
    if PHONE_RE.match(digits):
        return "phone", digits
    if EMAIL_RE.match(value) and len(value) <= 254:
        return "email", value.lower()
    raise InvalidInput(
        _("Enter a mainland mobile number (11 digits) or an email address."),
        code="invalid_login",
    )


def _find(db: Session, login: str) -> User | None:
    kind, value = normalize_login(login)
    column = User.phone if kind == "phone" else User.email
    return db.scalar(select(User).where(column == value))


def default_name(kind: str, value: str) -> str:
    """The name of an account that gave none, shown to others (comments, videos): a
    phone's last four digits ("尾号" style); for an email, its first letter and "***"
    (the part before "@" can be a QQ number, i.e. the whole address)."""
    if kind == "email":
        return value[:1] + "***"
    return value[-4:]


def _new_user(db: Session, *, login: str, password: str, display_name: str) -> User:
    kind, value = normalize_login(login)
    if len(password or "") < MIN_PASSWORD:
        raise InvalidInput(
            _("The password must be at least %(n)s characters."),
            code="weak_password",
            n=MIN_PASSWORD,
        )
    if len(password) > 200:
        raise InvalidInput(_("The password is too long."), code="weak_password")
    name = (display_name or "").strip() or default_name(kind, value)
    if len(name) > 40:
        raise InvalidInput(_("The name may have at most 40 characters."), code="invalid_name")
    if _find(db, login) is not None:
        raise Conflict(_("An account with this phone or email already exists."), code="duplicate")
    user = User(
        phone=value if kind == "phone" else None,
        email=value if kind == "email" else None,
        password_hash=security.hash_password(password),
        display_name=name,
    )
    db.add(user)
    db.flush()
    return user


def register(db: Session, *, login: str, password: str, display_name: str = "") -> User:
    """Create a buyer account. Raises InvalidInput, Conflict (duplicate)."""
    user = _new_user(db, login=login, password=password, display_name=display_name)
    db.commit()
    return user


def create_operator(db: Session, *, login: str, password: str, display_name: str = "") -> User:
    """Create an operator account, or make an existing account an operator."""
    user = _find(db, login)
    if user is None:
        user = _new_user(db, login=login, password=password, display_name=display_name)
    else:
        user.password_hash = security.hash_password(password)
    user.is_operator = True
    db.commit()
    return user


def authenticate(db: Session, *, login: str, password: str) -> User:
    """Check a login and password, counting failures.

    After ``lockout_failures`` failures in a row the account is locked for
    ``lockout_minutes``; while locked, even the right password is refused.
    Raises BadCredentials, AccountLocked.
    """
    conf = settings.current()
    now = clock.now()
    try:
        user = _find(db, login)
    except InvalidInput:
        user = None
    if user is None or not user.is_active:
        security.verify_password(security.DUMMY_HASH, password or "")
        raise BadCredentials(_("Wrong account or password."))
    if user.locked_until is not None and user.locked_until > now:
        raise AccountLocked(
            _("Too many failed sign-ins. Try again after %(time)s."),
            time=clock.as_utc(user.locked_until).astimezone(clock.BUSINESS_TZ).strftime("%H:%M"),
        )
    if not security.verify_password(user.password_hash, password or ""):
        failures = user.failed_logins + 1
        values: dict[str, object] = {"failed_logins": failures}
        if failures >= conf.lockout_failures:
            values = {
                "failed_logins": 0,
                "locked_until": now + timedelta(minutes=conf.lockout_minutes),
            }
        db.execute(update(User).where(User.id == user.id).values(**values))
        db.commit()
        raise BadCredentials(_("Wrong account or password."))
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    if security.needs_rehash(user.password_hash):
        user.password_hash = security.hash_password(password)
    db.flush()
    return user


def login(db: Session, *, login: str, password: str, kind: str = "cookie") -> tuple[User, str]:
    """Sign in; returns the user and a new session token (cookie or bearer)."""
    user = authenticate(db, login=login, password=password)
    token = _open_session(db, user_id=user.id, kind=kind)
    db.commit()
    return user, token


def _open_session(db: Session, *, user_id: int, kind: str) -> str:
    token = security.new_token()
    db.add(
        AuthSession(
            token_hash=security.token_hash(token),
            user_id=user_id,
            kind=kind,
            expires_at=clock.now() + timedelta(days=settings.current().session_days),
        )
    )
    return token


def issue_token(db: Session, *, user_id: int, kind: str = "bearer") -> str:
    """A session for a user without a password check (CLI, seeding, benchmarks)."""
    if db.get(User, user_id) is None:
        raise NotFound(_("Account not found."))
    token = _open_session(db, user_id=user_id, kind=kind)
    db.commit()
    return token


def on_token_revoked(callback: TokenListener) -> TokenListener:
    """Register ``callback(token)``, called in this process after a session token is
    revoked (sign-out), once the revocation is committed: caches of token -> actor (the
    live rooms' ``authcache``) drop the token at once. Registering the same callable twice
    keeps one; returns it, so it can decorate. Other domains register; accounts imports none.
    """
    if callback not in _revocation_listeners:
        _revocation_listeners.append(callback)
    return callback


def _token_revoked(token: str) -> None:
    """Tell the listeners; one that fails is logged and does not undo the sign-out."""
    for callback in list(_revocation_listeners):
        try:
            callback(token)
        except Exception:
            log.exception("token revocation listener %r failed", callback)


def on_actor_changed(callback: UserListener) -> UserListener:
    """Register ``callback(user_id)``, called in this process once a change of who an
    account is (its roles: a shop opened for it, staff added or removed, operator) has
    committed, so caches of actors drop it. Accounts imports none of the listeners."""
    if callback not in _change_listeners:
        _change_listeners.append(callback)
    return callback


def actor_changed(db: Session, *, user_id: int) -> None:
    """The account's roles change in this transaction: tell the listeners after it commits
    (nothing if it rolls back). Joins the caller's transaction."""
    if "actors_changed" not in db.info:
        db.info["actors_changed"] = set()
        sa_event.listen(db, "after_commit", _announce_changes)
        sa_event.listen(db, "after_rollback", _forget_changes)
    db.info["actors_changed"].add(user_id)


def _announce_changes(db: Session) -> None:
    changed, db.info["actors_changed"] = db.info["actors_changed"], set()
    for user_id in sorted(changed):
        for callback in list(_change_listeners):
            try:
                callback(user_id)
            except Exception:
                log.exception("actor change listener %r failed", callback)


def _forget_changes(db: Session) -> None:
    db.info["actors_changed"] = set()


def logout(db: Session, *, token: str) -> None:
    """Revoke a session token (cookie or bearer); listeners hear of it after commit.

    The only revocation today: a lock-out refuses new sign-ins but leaves sessions alone
    (revoking them would let anyone sign a user out by mistyping their password), and
    there is no password change yet. Caches in other processes expire by their TTL.
    """
    db.execute(
        update(AuthSession)
        .where(AuthSession.token_hash == security.token_hash(token))
        .values(revoked_at=clock.now())
    )
    db.commit()
    _token_revoked(token)


@dataclass(frozen=True)
class ShopRoles:
    """How the domain that owns shops tells accounts who works where (merchants registers
    it with ``use_shop_roles``; accounts imports no domain above it).

    ``column(user_id_column)`` is a scalar subquery of the caller's query about users
    ("12:owner,15:staff", NULL without a shop), ``parse`` reads it: one query, however many
    users are looked up."""

    column: Callable[[Any], Any]
    parse: Callable[[str | None], dict[int, str]]


_shop_roles: ShopRoles | None = None


def use_shop_roles(source: ShopRoles) -> None:
    """Register where shop roles come from (the merchants domain, at import)."""
    global _shop_roles
    _shop_roles = source


def _roles_column(user_id: Any) -> Any:
    if _shop_roles is None:
        return literal(None, String)
    return _shop_roles.column(user_id)


def _parse_roles(value: str | None) -> dict[int, str]:
    return _shop_roles.parse(value) if _shop_roles is not None else {}


def actor_for_token(db: Session, token: str | None) -> Actor:
    """Resolve a session token to an Actor; anonymous when missing, expired or revoked."""
    if not token or len(token) > 200:
        return ANONYMOUS
    return actors_for_tokens(db, [token]).get(token, ANONYMOUS)


def actors_for_tokens(db: Session, tokens: Iterable[str]) -> dict[str, Actor]:
    """``actor_for_token`` for many tokens in ONE query (a cache's warm-up, a flash-sale
    writer's new buyers: thousands of distinct buyers arriving at once), their shop roles
    included. Tokens that resolve to nobody are left out.

    Every request of a new token asks this, so the statement is built once per dialect
    (``_lookup_statement``) and only its parameters change."""
    wanted = {security.token_hash(t): t for t in tokens if t and len(t) <= 200}
    if not wanted:
        return {}
    statement = _lookup_statement(bulk.is_postgresql(db))
    rows = db.execute(statement, {"hashes": list(wanted), "now": clock.now()}).all()
    return {wanted[row[0]]: _actor(row[1:]) for row in rows}


_lookups: dict[tuple[bool, ShopRoles | None], Any] = {}


def _lookup_statement(postgresql: bool) -> Any:
    """The token lookup's statement: sessions by hash (``IN`` an expanding list on SQLite,
    ``= ANY(array)`` on PostgreSQL), live, of an active account, with its shop roles."""
    key = (postgresql, _shop_roles)
    statement = _lookups.get(key)
    if statement is None:
        column = AuthSession.token_hash
        if postgresql:
            hashes = column == any_(bindparam("hashes", type_=ARRAY(column.type)))
        else:
            hashes = column.in_(bindparam("hashes", expanding=True))
        statement = _lookups[key] = (
            select(column, *_actor_columns())
            .join(User, AuthSession.user_id == User.id)
            .where(
                hashes,
                AuthSession.revoked_at.is_(None),
                AuthSession.expires_at > bindparam("now", type_=AuthSession.expires_at.type),
                User.is_active.is_(True),
            )
        )
    return statement


def _actor_columns() -> tuple[Any, ...]:
    return (
        User.id,
        User.display_name,
        User.is_operator,
        User.is_creator,
        User.is_sharer,
        _roles_column(User.id),
    )


def _actor(row: Any) -> Actor:
    user_id, name, operator, creator, sharer, roles = row
    return Actor(
        user_id=user_id,
        display_name=name,
        is_operator=operator,
        is_creator=creator,
        is_sharer=sharer,
        shop_roles=_parse_roles(roles),
    )


def actor_for_user(db: Session, user: User) -> Actor:
    """The Actor of an account (its roles read now)."""
    row = db.execute(select(*_actor_columns()).where(User.id == user.id)).one()
    return _actor(row)


def get(db: Session, user_id: int) -> User:
    user = db.get(User, user_id)
    if user is None:
        raise NotFound(_("Account not found."))
    return user


def get_by_login(db: Session, login: str) -> User:
    user = _find(db, login)
    if user is None:
        raise NotFound(_("No account with this phone or email."), code="unknown_account")
    return user


def set_locale(db: Session, actor: Actor, *, locale: str) -> None:
    user = get(db, actor.require_user())
    user.locale = locale
    db.commit()


def users_by_ids(db: Session, ids: Iterable[int]) -> dict[int, User]:
    """Accounts by id in one query, for display (names in lists); unknown ids are left out."""
    wanted = set(ids)
    if not wanted:
        return {}
    return {u.id: u for u in db.scalars(select(User).where(User.id.in_(wanted)))}


def operators(db: Session, *, limit: int = 500) -> list[User]:
    """The platform's active operators, by id (at most ``limit``)."""
    return list(
        db.scalars(
            select(User)
            .where(User.is_operator.is_(True), User.is_active.is_(True))
            .order_by(User.id)
            .limit(limit)
        )
    )


# --------------------------------------------------------------------------- WeChat openids

# No password matches this (it is no argon2 hash): an account made by signing in with WeChat
# has no password until its owner sets one.
NO_PASSWORD = "!wechat"


@dataclass(frozen=True)
class WeChatUser:
    """What WeChat's OAuth told us about a visitor (``xiaodian.wechat`` asks for it)."""

    app_id: str
    openid: str
    unionid: str | None = None
    nickname: str = ""
    avatar_url: str = ""


def openid_for(db: Session, *, user_id: int, app_id: str) -> str | None:
    """The account's openid under the official account ``app_id`` (payments' JSAPI payer)."""
    return db.scalar(
        select(WeChatIdentity.openid).where(
            WeChatIdentity.user_id == user_id, WeChatIdentity.app_id == app_id
        )
    )


def openids_for(db: Session, *, user_ids: Iterable[int], app_id: str) -> dict[int, str]:
    """The openids of these accounts under ``app_id`` (absent: none), one query."""
    wanted = sorted(set(user_ids))
    if not wanted:
        return {}
    rows = db.execute(
        select(WeChatIdentity.user_id, WeChatIdentity.openid).where(
            WeChatIdentity.user_id.in_(wanted), WeChatIdentity.app_id == app_id
        )
    )
    return {user_id: openid for user_id, openid in rows}


def sign_in_wechat(db: Session, who: WeChatUser) -> tuple[User, str] | None:
    """Sign in the account that holds this openid (a new session token), or None when the
    openid is new (nothing written). Joins the caller's transaction (``xiaodian.wechat``)."""
    user = db.scalar(
        select(User)
        .join(WeChatIdentity, WeChatIdentity.user_id == User.id)
        .where(WeChatIdentity.app_id == who.app_id, WeChatIdentity.openid == who.openid)
    )
    if user is None or not user.is_active:
        return None
    user.last_login_at = clock.now()
    return user, _open_session(db, user_id=user.id, kind="cookie")


def _check_openid(who: WeChatUser) -> None:
    if not (0 < len(who.openid) <= 128 and 0 < len(who.app_id) <= 32):
        raise InvalidInput(_("WeChat did not say who you are."), code="bad_openid")


def _add_identity(db: Session, user_id: int, who: WeChatUser) -> None:
    """The openid's row, in a savepoint: an openid linked meanwhile is a Conflict, and the
    caller's transaction goes on."""
    try:
        with db.begin_nested():
            db.add(
                WeChatIdentity(
                    user_id=user_id,
                    app_id=who.app_id,
                    openid=who.openid,
                    unionid=who.unionid[:128] if who.unionid else None,
                    nickname=who.nickname[:64],
                    avatar_url=who.avatar_url[:300],
                )
            )
    except IntegrityError:
        raise Conflict(
            _("This WeChat account is already linked to an account."), code="openid_linked"
        ) from None


def register_wechat(db: Session, who: WeChatUser) -> tuple[User, str]:
    """A buyer account for an openid seen for the first time, signed in (a session token).
    Raises Conflict if the openid is linked already. Joins the caller's transaction."""
    _check_openid(who)
    name = who.nickname.strip()[:40] or "微信用户"
    user = User(password_hash=NO_PASSWORD, display_name=name, last_login_at=clock.now())
    db.add(user)
    db.flush()
    _add_identity(db, user.id, who)
    return user, _open_session(db, user_id=user.id, kind="cookie")


def link_wechat(db: Session, who: WeChatUser, *, login: str, password: str) -> tuple[User, str]:
    """Link the openid to an existing account after one sign-in with its phone (or email)
    and password, and sign it in. Raises what ``authenticate`` raises (a failure is counted
    and committed, as any sign-in's), Conflict when the openid, or another openid of this
    app id, is linked already. Otherwise joins the caller's transaction."""
    _check_openid(who)
    user = authenticate(db, login=login, password=password)
    held = openid_for(db, user_id=user.id, app_id=who.app_id)
    if held is not None and held != who.openid:
        raise Conflict(
            _("This account is already linked to another WeChat account."),
            code="account_linked",
        )
    if held is None:
        _add_identity(db, user.id, who)
    return user, _open_session(db, user_id=user.id, kind="cookie")
