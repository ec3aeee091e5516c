"""Merchant onboarding (商家入驻): applications and the operators' queue.

An application moves through one table of transitions (``TRANSITIONS``):
submitted -approve-> approved (a Shop and its owner are created), submitted -reject->
rejected (with the operator's reason), rejected -resubmit-> submitted. Every move writes an
``ApplicationEvent``. A user has at most one open (submitted) application; an open
application reserves its shop name. Both rules are also unique indexes, so a race between
two requests ends in a 409, not in two rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xiaodian import clock, transitions
from xiaodian.accounts import service as accounts_service
from xiaodian.accounts.service import User
from xiaodian.actor import Actor
from xiaodian.cases import service as cases_service
from xiaodian.categories import service as categories_service
from xiaodian.categories.service import Category
from xiaodian.db import MAX_ID
from xiaodian.errors import Conflict, IllegalTransition, InvalidInput, NotFound, _
from xiaodian.media import StoredImage
from xiaodian.merchants import uploads, uscc
from xiaodian.merchants.models import (
    ApplicationEvent,
    ApplicationStatus,
    EntityType,
    MemberRole,
    MerchantApplication,
    Shop,
    ShopMember,
)
from xiaodian.transitions import Transition

SUBMITTED, APPROVED, REJECTED = (
    ApplicationStatus.SUBMITTED,
    ApplicationStatus.APPROVED,
    ApplicationStatus.REJECTED,
)

# action -> (states it may start from, state it leads to). Anything else is an
# IllegalTransition (409), checked by ``xiaodian.transitions``.
TRANSITIONS: dict[str, Transition[ApplicationStatus]] = {
    "approve": Transition(frozenset({SUBMITTED}), APPROVED),
    "reject": Transition(frozenset({SUBMITTED}), REJECTED),
    "resubmit": Transition(frozenset({REJECTED}), SUBMITTED),
}
# The event each action writes.
EVENT_OF = {
    "submit": "submitted",
    "resubmit": "resubmitted",
    "approve": "approved",
    "reject": "rejected",
}

PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
SHOP_NAME_MIN, SHOP_NAME_MAX = 2, 40
REASON_MAX = 500


@dataclass(frozen=True)
class ApplicationData:
    """What an applicant fills in (raw, as typed); the service cleans and checks it."""

    entity_type: str
    legal_name: str
    license_no: str
    contact_name: str
    contact_phone: str
    main_category_id: int | None
    shop_name: str


@dataclass(frozen=True)
class ApplicationDetail:
    """An application with its history, the people in it and its category, for display."""

    application: MerchantApplication
    events: list[ApplicationEvent]
    people: dict[int, User]
    category: Category | None


@dataclass(frozen=True)
class ApplicationQueue:
    items: list[MerchantApplication]
    categories: dict[int, Category]
    counts: dict[str, int]


# --------------------------------------------------------------------------- validation


def normalize_phone(value: str) -> str:
    digits = "".join(ch for ch in (value or "") if ch not in " -")
    if digits.startswith("+86"):
        digits = digits[3:]
    if not PHONE_RE.match(digits):
        raise InvalidInput(
            _("Enter the contact's mainland mobile number (11 digits)."), code="invalid_phone"
        )
    return digits


def validate_license_no(value: str) -> str:
    """Check a 统一社会信用代码 (GB 32100-2015) and return it upper-cased.

    Raises InvalidInput (code ``invalid_license_no``) naming what is wrong.
    """
    code = uscc.normalize(value)
    problem = uscc.problem(code)
    if problem == "length":
        raise InvalidInput(
            _("The unified social credit code has exactly 18 characters."),
            code="invalid_license_no",
        )
    if problem == "charset":
        raise InvalidInput(
            _(
                "The unified social credit code may contain only digits and the letters "
                "A-H, J-N, P-R, T, U, W-Y (no I, O, S, V or Z)."
            ),
            code="invalid_license_no",
        )
    if problem == "check":
        raise InvalidInput(
            _(
                "The unified social credit code is not valid (its check digit does not match). "
                "Copy it again from the business licence."
            ),
            code="invalid_license_no",
        )
    return code


def _clean_shop_name(name: str) -> str:
    value = " ".join((name or "").split())
    if not SHOP_NAME_MIN <= len(value) <= SHOP_NAME_MAX:
        raise InvalidInput(
            _("The shop name must have %(min)s to %(max)s characters."),
            code="invalid_shop_name",
            min=SHOP_NAME_MIN,
            max=SHOP_NAME_MAX,
        )
    return value


def clean_application(db: Session, data: ApplicationData) -> dict[str, Any]:
    """Check every field (no writes); return the column values. Raises InvalidInput.
    Read-only; the seed uses it to check its demo data."""
    try:
        entity_type = EntityType(data.entity_type)
    except ValueError:
        raise InvalidInput(
            _("Choose the type of business entity."), code="invalid_entity_type"
        ) from None
    legal_name = " ".join((data.legal_name or "").split())
    if not 2 <= len(legal_name) <= 100:
        raise InvalidInput(
            _("Enter the legal name exactly as on the business licence (2 to 100 characters)."),
            code="invalid_legal_name",
        )
    license_no = validate_license_no(data.license_no)
    contact_name = " ".join((data.contact_name or "").split())
    if not 1 <= len(contact_name) <= 40:
        raise InvalidInput(
            _("Enter the contact person's name (at most 40 characters)."),
            code="invalid_contact_name",
        )
    contact_phone = normalize_phone(data.contact_phone)
    category_id = data.main_category_id
    category = categories_service.find(db, category_id)
    category = db.get(Category, category_id) if category_id and 0 < category_id <= MAX_ID else None
    if category is None or category.parent_id is None:
        raise InvalidInput(
            _("Choose the main category the shop will sell in."), code="invalid_category"
        )
    return {
        "entity_type": entity_type,
        "legal_name": legal_name,
        "license_no": license_no,
        "contact_name": contact_name,
        "contact_phone": contact_phone,
        "main_category_id": category.id,
        "shop_name": _clean_shop_name(data.shop_name),
    }


def _check_free(
    db: Session, *, applicant_id: int, shop_name: str, skip_application: int | None = None
) -> None:
    """The applicant has no other open application and the shop name is free. 409 if not."""
    open_app = select(MerchantApplication.id).where(
        MerchantApplication.status == SUBMITTED,
        MerchantApplication.applicant_id == applicant_id,
    )
    if skip_application is not None:
        open_app = open_app.where(MerchantApplication.id != skip_application)
    if db.scalar(open_app.limit(1)) is not None:
        raise Conflict(
            _("You already have an application under review. Wait for the decision first."),
            code="application_open",
        )
    if _shop_name_taken(db, shop_name, skip_application=skip_application):
        raise Conflict(
            _("The shop name is already taken. Choose another one."), code="shop_name_taken"
        )


def _shop_name_taken(db: Session, name: str, *, skip_application: int | None = None) -> bool:
    if db.scalar(select(Shop.id).where(Shop.name == name).limit(1)) is not None:
        return True
    pending = select(MerchantApplication.id).where(
        MerchantApplication.status == SUBMITTED, MerchantApplication.shop_name == name
    )
    if skip_application is not None:
        pending = pending.where(MerchantApplication.id != skip_application)
    return db.scalar(pending.limit(1)) is not None


# --------------------------------------------------------------------------- applications


def _store_images(logo: bytes | None, license_image: bytes | None) -> dict[str, StoredImage]:
    return uploads.store(
        {
            "logo": (logo, uploads.LOGO_FOLDER),
            "license_image": (license_image, uploads.LICENSE_FOLDER),
        }
    )


def _event(
    db: Session, application: MerchantApplication, action: str, actor_id: int, note: str | None
) -> ApplicationEvent:
    event = ApplicationEvent(
        application_id=application.id,
        actor_id=actor_id,
        action=EVENT_OF[action],
        note=note,
        at=clock.now(),
    )
    db.add(event)
    _sync_case(db, application, actor_id)
    return event


def _sync_case(db: Session, application: MerchantApplication, actor_id: int) -> None:
    """A submitted application waits in the operators' queue; a decided one leaves it."""
    key = f"application:{application.id}"
    if application.status == ApplicationStatus.SUBMITTED:
        db.flush()
        cases_service.open_case(
            db,
            "shop_applications",
            key,
            title=application.shop_name,
            link=f"/ops/applications/{application.id}",
        )
    else:
        cases_service.close_case(
            db, "shop_applications", key, outcome=str(application.status), actor_id=actor_id
        )


def _target(application: MerchantApplication, action: str) -> ApplicationStatus:
    """Where ``action`` takes the application, per TRANSITIONS. Raises IllegalTransition."""
    if action == "resubmit":
        message = _("Only a rejected application can be corrected and resubmitted.")
        code = IllegalTransition.code
    else:
        message, code = _("This application has already been decided."), "already_decided"
    return transitions.check(TRANSITIONS, action, application.status, message, code=code).target


def _move(db: Session, application: MerchantApplication, action: str) -> None:
    """Apply ``action`` with a conditional UPDATE, so two deciders racing on one
    application cannot both win. Raises IllegalTransition (409)."""
    current = application.status
    target = _target(application, action)
    result = cast(
        CursorResult[Any],
        db.execute(
            update(MerchantApplication)
            .where(MerchantApplication.id == application.id, MerchantApplication.status == current)
            .values(status=target)
            .execution_options(synchronize_session=False)
        ),
    )
    if result.rowcount != 1:
        raise IllegalTransition(
            _("This application has already been decided."), code="already_decided"
        )
    application.status = target


def add_application(
    db: Session,
    *,
    applicant_id: int,
    values: dict[str, Any],
    stored: dict[str, StoredImage],
    at: datetime | None = None,
) -> MerchantApplication:
    """Insert a submitted application (``values`` from ``clean_application``) and its event.
    Joins the caller's transaction: no commit, no permission or conflict check."""
    now = at or clock.now()
    application = MerchantApplication(
        applicant_id=applicant_id,
        status=SUBMITTED,
        logo_path=stored["logo"].path if "logo" in stored else None,
        license_image_path=stored["license_image"].path if "license_image" in stored else None,
        submitted_at=now,
        **values,
    )
    db.add(application)
    db.flush()
    _event(db, application, "submit", applicant_id, None).at = now
    return application


def submit_application(
    db: Session,
    actor: Actor,
    data: ApplicationData,
    *,
    logo: bytes | None = None,
    license_image: bytes | None = None,
) -> MerchantApplication:
    """Apply to open a shop. Raises InvalidInput / TooLarge (images), Conflict (an open
    application already, or the shop name is taken). Nothing is written on error."""
    user_id = actor.require_user()
    values = clean_application(db, data)
    _check_free(db, applicant_id=user_id, shop_name=values["shop_name"])
    stored = _store_images(logo, license_image)
    try:
        with uploads.all_or_nothing(db, stored):
            application = add_application(db, applicant_id=user_id, values=values, stored=stored)
            db.commit()
    except IntegrityError:
        # A concurrent request won the race; say which rule it broke.
        _check_free(db, applicant_id=user_id, shop_name=values["shop_name"])
        raise Conflict(
            _("The application could not be saved. Try again."), code="conflict"
        ) from None
    return application


def resubmit_application(
    db: Session,
    actor: Actor,
    application_id: int,
    data: ApplicationData,
    *,
    logo: bytes | None = None,
    license_image: bytes | None = None,
) -> MerchantApplication:
    """Correct a rejected application and send it back to the queue (status submitted,
    event "resubmitted"). Images not given are kept. Only the applicant may do this."""
    user_id = actor.require_user()
    application = _own_application(db, user_id, application_id)
    _target(application, "resubmit")  # 409 before any work if it cannot be resubmitted
    values = clean_application(db, data)
    _check_free(
        db, applicant_id=user_id, shop_name=values["shop_name"], skip_application=application.id
    )
    stored = _store_images(logo, license_image)
    try:
        with uploads.all_or_nothing(db, stored):
            changed = sorted(k for k, v in values.items() if getattr(application, k) != v)
            changed += sorted(f"{k}_path" for k in stored)
            _move(db, application, "resubmit")
            for key, value in values.items():
                setattr(application, key, value)
            if "logo" in stored:
                application.logo_path = stored["logo"].path
            if "license_image" in stored:
                application.license_image_path = stored["license_image"].path
            application.reject_reason = None
            application.decided_at = None
            application.decided_by_id = None
            application.submitted_at = clock.now()  # back of the queue, like a new submission
            _event(db, application, "resubmit", user_id, ", ".join(changed) or None)
            db.commit()
    except IntegrityError:
        _check_free(
            db,
            applicant_id=user_id,
            shop_name=values["shop_name"],
            skip_application=application_id,
        )
        raise Conflict(
            _("The application could not be saved. Try again."), code="conflict"
        ) from None
    return application


def approve_into_shop(
    db: Session, application: MerchantApplication, operator_id: int, *, at: datetime | None = None
) -> Shop:
    """Approve and open the shop with the applicant as owner.
    Joins the caller's transaction: no commit, no permission check."""
    _target(application, "approve")  # a decided application is a 409 before anything else
    if _shop_name_in_shops(db, application.shop_name):
        raise Conflict(
            _("A shop with this name already exists. Reject the application instead."),
            code="shop_name_taken",
        )
    _move(db, application, "approve")
    now = at or clock.now()
    shop = Shop(
        name=application.shop_name,
        description="",
        logo_path=application.logo_path,
        main_category_id=application.main_category_id,
        entity_type=application.entity_type,
        legal_name=application.legal_name,
        is_active=True,
        created_at=now,
    )
    db.add(shop)
    db.flush()
    db.add(
        ShopMember(
            shop_id=shop.id,
            user_id=application.applicant_id,
            role=MemberRole.OWNER,
            added_at=now,
            added_by_id=operator_id,
        )
    )
    accounts_service.actor_changed(db, user_id=application.applicant_id)
    application.shop_id = shop.id
    application.decided_at = now
    application.decided_by_id = operator_id
    application.reject_reason = None
    _event(db, application, "approve", operator_id, None).at = now
    return shop


def _shop_name_in_shops(db: Session, name: str) -> bool:
    return db.scalar(select(Shop.id).where(Shop.name == name).limit(1)) is not None


def approve_application(db: Session, actor: Actor, application_id: int) -> MerchantApplication:
    """Operator: approve; creates the Shop and its owner in this one transaction.
    Raises PermissionDenied (not an operator), NotFound, IllegalTransition (decided)."""
    operator_id = cases_service.require_role(db, actor, "shop_applications")
    application = _application(db, application_id)
    approve_into_shop(db, application, operator_id)
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        raise Conflict(
            _("A shop with this name already exists. Reject the application instead."),
            code="shop_name_taken",
        ) from None
    return application


def _clean_reason(reason: str | None) -> str:
    value = (reason or "").strip()
    if not value:
        raise InvalidInput(
            _("Tell the applicant why the application is rejected."), code="reason_required"
        )
    if len(value) > REASON_MAX:
        raise InvalidInput(
            _("The reason may have at most %(n)s characters."), code="invalid_reason", n=REASON_MAX
        )
    return value


def mark_rejected(
    db: Session,
    application: MerchantApplication,
    operator_id: int,
    reason: str,
    *,
    at: datetime | None = None,
) -> None:
    """Reject with a (cleaned) reason. Joins the caller's transaction: no commit."""
    _move(db, application, "reject")
    now = at or clock.now()
    application.reject_reason = reason
    application.decided_at = now
    application.decided_by_id = operator_id
    _event(db, application, "reject", operator_id, reason).at = now


def reject_application(
    db: Session, actor: Actor, application_id: int, *, reason: str | None
) -> MerchantApplication:
    """Operator: reject with a reason the applicant will see (required)."""
    operator_id = cases_service.require_role(db, actor, "shop_applications")
    application = _application(db, application_id)
    cleaned = _clean_reason(reason)
    mark_rejected(db, application, operator_id, cleaned)
    db.commit()
    return application


def _application(db: Session, application_id: int) -> MerchantApplication:
    application = db.get(MerchantApplication, application_id)
    if application is None:
        raise NotFound(_("Application not found."), code="application_not_found")
    return application


def _own_application(db: Session, user_id: int, application_id: int) -> MerchantApplication:
    application = db.get(MerchantApplication, application_id)
    if application is None or application.applicant_id != user_id:
        raise NotFound(_("Application not found."), code="application_not_found")
    return application


def my_applications(db: Session, actor: Actor) -> list[MerchantApplication]:
    """The signed-in user's applications, newest first."""
    user_id = actor.require_user()
    return list(
        db.scalars(
            select(MerchantApplication)
            .where(MerchantApplication.applicant_id == user_id)
            .order_by(MerchantApplication.id.desc())
        )
    )


def application_detail(
    db: Session, actor: Actor, application_id: int, *, as_operator: bool = False
) -> ApplicationDetail:
    """One application with its events: for operators, or the applicant's own (else 404).
    ``as_operator`` (the operator console) refuses everyone else with 403."""
    user_id = actor.require_operator() if as_operator else actor.require_user()
    if actor.is_operator:
        application = _application(db, application_id)
    else:
        application = _own_application(db, user_id, application_id)
    return _detail(db, application)


def licence_image(db: Session, actor: Actor, application_id: int) -> str:
    """The stored path of an application's business licence image, for operators and for
    its applicant (anyone else: 404, as for the application). Read-only."""
    user_id = actor.require_user()
    if actor.is_operator:
        application = _application(db, application_id)
    else:
        application = _own_application(db, user_id, application_id)
    if not application.license_image_path:
        raise NotFound(_("This application has no licence image."), code="file_not_found")
    return application.license_image_path


def _detail(db: Session, application: MerchantApplication) -> ApplicationDetail:
    events = list(
        db.scalars(
            select(ApplicationEvent)
            .where(ApplicationEvent.application_id == application.id)
            .order_by(ApplicationEvent.at, ApplicationEvent.id)
        )
    )
    people_ids = {application.applicant_id} | {e.actor_id for e in events}
    return ApplicationDetail(
        application=application,
        events=events,
        people=accounts_service.users_by_ids(db, people_ids),
        category=categories_service.find(db, application.main_category_id),
    )


def my_latest_application(db: Session, actor: Actor) -> ApplicationDetail | None:
    """The applicant's most recent application with its history (for /merchant/apply)."""
    user_id = actor.require_user()
    application = db.scalar(
        select(MerchantApplication)
        .where(MerchantApplication.applicant_id == user_id)
        .order_by(MerchantApplication.id.desc())
        .limit(1)
    )
    return None if application is None else _detail(db, application)


def list_applications(
    db: Session,
    actor: Actor,
    *,
    status: ApplicationStatus | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[MerchantApplication]:
    """Operator queue: oldest first (the one waiting longest on top), optionally by status."""
    actor.require_operator()
    query = select(MerchantApplication)
    if status is not None:
        query = query.where(MerchantApplication.status == status)
    query = query.order_by(MerchantApplication.submitted_at, MerchantApplication.id)
    return list(db.scalars(query.limit(max(1, min(limit, 200))).offset(max(0, offset))))


def count_applications(db: Session, actor: Actor) -> dict[str, int]:
    """Operator: number of applications per status (every status present, 0 if none)."""
    actor.require_operator()
    counts = {str(s): 0 for s in ApplicationStatus}
    rows = db.execute(
        select(MerchantApplication.status, func.count()).group_by(MerchantApplication.status)
    )
    for status, n in rows:
        counts[str(status)] = n
    return counts


def application_queue(
    db: Session, actor: Actor, *, status: ApplicationStatus | None, limit: int = 50, offset: int = 0
) -> ApplicationQueue:
    """The operator queue page: the applications, their categories and counts per status."""
    items = list_applications(db, actor, status=status, limit=limit, offset=offset)
    return ApplicationQueue(
        items=items,
        categories=categories_service.by_ids(db, (a.main_category_id for a in items)),
        counts=count_applications(db, actor),
    )


def parse_status(value: str | None) -> ApplicationStatus | None:
    """A status filter from a query string ("" means all). Raises InvalidInput."""
    if not value:
        return None
    try:
        return ApplicationStatus(value)
    except ValueError:
        raise InvalidInput(_("Unknown status."), code="invalid_status") from None
