"""Who may do what in the console and the JSON API: the role hierarchy, as pure rules.

Roles form a ladder, each one able to do everything of the roles below it:

- viewer: looks at dashboards and lists, changes nothing;
- analyst: a viewer who may also save analyses (reports, segment definitions) that act on no user;
- operator: an analyst who may also act on users (campaigns, points, coupons, outreach);
- admin: an operator who may also manage operator accounts, roles, write keys and settings.

Every route names the one permission it needs; the faces ask `allows(role, permission)` and the
server refuses the rest, whatever the page shows or hides.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

Role = Literal["admin", "operator", "analyst", "viewer"]
Permission = Literal["view", "analyse", "change", "admin"]

ROLES: Final[tuple[Role, ...]] = get_args(Role)
PERMISSIONS: Final[tuple[Permission, ...]] = get_args(Permission)

# Rank on the ladder: a role holds every permission whose rank is at most its own.
_ROLE_RANK: Final[dict[str, int]] = {"viewer": 0, "analyst": 1, "operator": 2, "admin": 3}
_PERMISSION_RANK: Final[dict[Permission, int]] = {"view": 0, "analyse": 1, "change": 2, "admin": 3}


def is_role(value: str) -> bool:
    return value in _ROLE_RANK


def allows(role: str, permission: Permission) -> bool:
    """True when `role` holds `permission`; an unknown role holds nothing."""
    rank = _ROLE_RANK.get(role)
    return rank is not None and rank >= _PERMISSION_RANK[permission]


def permissions_of(role: str) -> tuple[Permission, ...]:
    """The permissions `role` holds, weakest first."""
    return tuple(p for p in PERMISSIONS if allows(role, p))
