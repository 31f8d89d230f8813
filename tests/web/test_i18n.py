"""zh-CN and English: the catalogues, the choice of language, the switch."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.web.support import Console
from userops.domain.roles import ROLES
from userops.web.i18n import CATALOGUES, EN, LANG_COOKIE, ZH_CN, choose_locale
from userops.web.pages import _CARDS

TEMPLATES = Path(__file__).parents[2] / "src" / "userops" / "web" / "templates"


def test_both_catalogues_have_the_same_keys() -> None:
    assert set(EN) == set(ZH_CN)
    assert all(text.strip() for text in (*EN.values(), *ZH_CN.values()))


def test_placeholders_match_between_languages() -> None:
    def names(text: str) -> set[str]:
        return set(re.findall(r"{(\w+)}", text))

    assert {k: names(v) for k, v in EN.items()} == {k: names(v) for k, v in ZH_CN.items()}


def keys_used_by_the_console() -> set[str]:
    used = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"""\bt\(\s*["']([\w.]+)["']\s*[,)]""", template.read_text()))
    # keys the code and templates build from a value
    used |= {f"role.{role}" for role in ROLES}
    used |= {f"metric.{key}" for key, *_ in _CARDS} | {f"metric.help.{key}" for key, *_ in _CARDS}
    used |= {reads for *_, reads, _percent in _CARDS}
    used |= {
        f"error.{kind}.{part}"
        for kind in ("forbidden", "csrf", "not_found")
        for part in ("title", "body")
    }
    used |= {f"action.{verb}" for verb in ("deactivate", "reactivate")}
    return used


def test_every_key_the_console_uses_is_translated() -> None:
    missing = {locale: keys_used_by_the_console() - set(cat) for locale, cat in CATALOGUES.items()}
    assert missing == {"zh-CN": set(), "en": set()}


@pytest.mark.parametrize(
    ("cookie", "header", "locale"),
    [
        (None, None, "en"),
        (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
        (None, "zh-TW", "zh-CN"),
        (None, "zh", "zh-CN"),
        (None, "en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        (None, "fr-FR,fr;q=0.9,zh-CN;q=0.5,en;q=0.4", "zh-CN"),
        (None, "en;q=0.2, zh;q=0.8", "zh-CN"),
        (None, "zh;q=0, en", "en"),
        (None, "de, fr", "en"),
        (None, "*", "en"),
        (None, "zh;q=bad, en;q=0.1", "en"),
        ("en", "zh-CN", "en"),
        ("zh-CN", "en-US", "zh-CN"),
        ("klingon", "zh-CN", "zh-CN"),
    ],
)
def test_choose_locale(cookie: str | None, header: str | None, locale: str) -> None:
    assert choose_locale(cookie, header) == locale


def test_accept_language_picks_the_language(shared_console: Console) -> None:
    client = shared_console.anonymous
    page = client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).text
    assert '<html lang="zh-CN">' in page and "登录" in page
    page = client.get("/login", headers={"Accept-Language": "en-GB"}).text
    assert '<html lang="en">' in page and "Sign in" in page


def test_the_switch_sets_a_cookie_and_returns(shared_console: Console) -> None:
    from fastapi.testclient import TestClient

    from tests.web.support import login

    client = TestClient(shared_console.app, headers={"Accept-Language": "en"})
    login(client, "viewer")
    response = client.get("/lang/zh-CN?next=/%3Fa%3D1", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/?a=1"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{LANG_COOKIE}=zh-CN") and "HttpOnly" in cookie
    page = client.get("/").text
    assert '<html lang="zh-CN">' in page and "新增用户" in page and "日活跃用户" in page
    assert 'href="/lang/en?next=/"' in page
    client.get("/lang/en")
    assert "New users" in client.get("/").text


def test_an_unknown_language_changes_nothing(shared_console: Console) -> None:
    from fastapi.testclient import TestClient

    client = TestClient(shared_console.app)
    response = client.get("/lang/xx?next=//evil.example", follow_redirects=False)
    assert response.headers["location"] == "/"
    assert "set-cookie" not in response.headers
