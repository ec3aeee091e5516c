"""Who is asking: the signed-in user with their roles, or an anonymous visitor.

A kernel value: every layer passes it (the web layer finds it, every service takes it and
checks permissions per object itself); the accounts domain makes them
(``accounts.service.actor_for_token``). It depends on nothing but ``errors``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xiaodian.errors import NotAuthenticated, NotFound, PermissionDenied, _


@dataclass(frozen=True)
class Actor:
    user_id: int | None = None
    display_name: str = ""
    is_operator: bool = False
    is_creator: bool = False
    is_sharer: bool = False
    # shop id -> "owner" | "staff" | "finance" (staff who also see the shop's money)
    shop_roles: dict[int, str] = field(default_factory=dict)

    @property
    def is_authenticated(self) -> bool:
        return self.user_id is not None

    @property
    def shop_ids(self) -> list[int]:
        return sorted(self.shop_roles)

    def require_user(self) -> int:
        if self.user_id is None:
            raise NotAuthenticated(_("Please sign in first."))
        return self.user_id

    def require_operator(self) -> int:
        user_id = self.require_user()
        if not self.is_operator:
            raise PermissionDenied(_("Only platform operators can do this."))
        return user_id

    def require_shop(self, shop_id: int, *, owner: bool = False) -> int:
        """Staff of ``shop_id`` (or its owner, if ``owner``) may pass; others see 404.

        A stranger gets "not found" rather than "forbidden" so shop ids cannot be probed.
        """
        user_id = self.require_user()
        role = self.shop_roles.get(shop_id)
        if role is None:
            raise NotFound(_("Shop not found."))
        if owner and role != "owner":
            raise PermissionDenied(_("Only the shop owner can do this."))
        return user_id

    def can_manage_shop(self, shop_id: int) -> bool:
        return shop_id in self.shop_roles


ANONYMOUS = Actor()
