"""The console's Analytics area: one tab per metric (activity, retention, funnels, revenue and
conversion, channels, lifecycle), every control a GET parameter, charts drawn by console.js
from JSON embedded in the page. Every role may read them (the viewer permission)."""

from __future__ import annotations

from userops.web.analytics.routes import router

__all__ = ["router"]
