"""The console's ASGI middleware: the signed session cookie and the security headers of pages.

Like Starlette's SessionMiddleware (`request.session` works the same), but the cookie is marked
Secure whenever the request itself came over https (behind a proxy, run uvicorn with
--proxy-headers), and the format is `services.auth.SessionCodec`, which the JSON API reads too.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from userops.services.auth import SESSION_COOKIE, SessionCodec

# Pages run only their own scripts (no inline code, no eval: htmx's allowEval is off); ECharts
# and htmx set inline styles, hence 'unsafe-inline' for styles only.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_PAGE_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}


class TrackedSession(dict[str, Any]):
    """A dict that remembers whether it was changed, so unchanged sessions set no cookie."""

    modified = False

    def __setitem__(self, key: str, value: Any) -> None:
        self.modified = True
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.modified = True
        super().__delitem__(key)

    def clear(self) -> None:
        self.modified = True
        super().clear()

    def pop(self, key: str, *default: Any) -> Any:
        self.modified = self.modified or key in self
        return super().pop(key, *default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        self.modified = True
        super().update(*args, **kwargs)

    def setdefault(self, key: str, default: Any = None) -> Any:
        self.modified = self.modified or key not in self
        return super().setdefault(key, default)

    def replace(self, data: dict[str, Any]) -> None:
        """Swap the whole session (at login), keeping the same object in the scope."""
        super().clear()
        self.update(data)


def _cookie_value(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:
                continue
            if SESSION_COOKIE in jar:
                return jar[SESSION_COOKIE].value
    return None


class ConsoleMiddleware:
    def __init__(self, app: ASGIApp, *, codec: SessionCodec):
        self.app = app
        self.codec = codec

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        session = TrackedSession(self.codec.loads(_cookie_value(scope)))
        scope["session"] = session
        secure = scope.get("scheme") == "https"

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if session.modified:
                    headers.append("set-cookie", self._cookie(session, secure=secure))
                    headers.add_vary_header("Cookie")
                if headers.get("content-type", "").startswith("text/html"):
                    for name, value in _PAGE_HEADERS.items():
                        if name not in headers:
                            headers[name] = value
            await send(message)

        await self.app(scope, receive, send_wrapper)

    def _cookie(self, session: TrackedSession, *, secure: bool) -> str:
        flags = "; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")
        if not session:
            return f"{SESSION_COOKIE}=; Max-Age=0{flags}"
        value = self.codec.dumps(dict(session))
        return f"{SESSION_COOKIE}={value}; Max-Age={self.codec.max_age}{flags}"
