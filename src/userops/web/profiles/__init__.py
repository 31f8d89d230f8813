"""The console's profiles area (用户画像与分群): the tag taxonomy and each tag's page (editor
with a preview, refresh now), the RFM dashboard, the lifecycle stages, the value pyramid, the
migration between refresh days, the segments (builder with a live count, save, export) and the
user 360 with search.

Every page is open to every role (`view`); previews and saving segments need `analyse` (a
segment definition acts on no user: domain/roles.py); saving tags and parameters and starting a
refresh need `change` (operators and admins); every post carries the session's CSRF token. The
services write the audit entries. A bad value is shown next to its form with the service's
message, and nothing is stored.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from userops.web.deps import check_csrf
from userops.web.profiles import dashboards, segments, tags, users

router = APIRouter(include_in_schema=False, dependencies=[Depends(check_csrf)])
router.include_router(tags.router)
router.include_router(dashboards.router)
router.include_router(segments.router)
router.include_router(users.router)

__all__ = ["router"]
