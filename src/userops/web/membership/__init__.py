"""The console's membership area (会员体系): the economy dashboard, level schemes and their
benefits, incentive rules, badges and leaderboards, and a member's page (with a panel the user
360 includes: /membership/members/{user_id}/panel).

Every page is open to every role (`view`); every change needs `change` (operators and admins)
and the session's CSRF token, and goes through a service that writes the audit entry. A form
with a bad value is shown again with the message next to it, and nothing is stored.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from userops.web.deps import check_csrf
from userops.web.membership import economy, honours, members, rules, schemes

router = APIRouter(include_in_schema=False, dependencies=[Depends(check_csrf)])
router.include_router(economy.router)
router.include_router(schemes.router)
router.include_router(rules.router)
router.include_router(honours.router)
router.include_router(members.router)

__all__ = ["router"]
