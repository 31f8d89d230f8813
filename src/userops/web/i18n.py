"""The console's two languages, zh-CN and English: one catalogue per locale (merged from the area
modules of `userops.web.messages`) and the choice of
locale for a request (the language cookie, else Accept-Language, else English).

Templates call `t("key")` (or `t("key", name=value)` for `{name}` placeholders). A key missing from
a catalogue shows as the key itself, and a test checks that both catalogues hold the same keys
and every key the templates use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from userops.web.messages import analytics, core, membership, profiles

Locale = str
LOCALES: Final[tuple[Locale, ...]] = ("zh-CN", "en")
DEFAULT_LOCALE: Final = "en"
LANG_COOKIE: Final = "userops_lang"

AREAS: Final = (core, analytics, membership, profiles)


def _merge(locale: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    for area in AREAS:
        catalogue: dict[str, str] = getattr(area, locale)
        repeated = merged.keys() & catalogue.keys()
        if repeated:
            raise RuntimeError(f"message keys defined twice: {sorted(repeated)}")
        merged.update(catalogue)
    return merged


EN: Final[dict[str, str]] = _merge("EN")
ZH_CN: Final[dict[str, str]] = _merge("ZH_CN")

CATALOGUES: Final[dict[Locale, dict[str, str]]] = {"en": EN, "zh-CN": ZH_CN}

Translator = Callable[..., str]


def translator(locale: Locale) -> Translator:
    """`t(key, **values)` for one locale; a missing key shows as itself."""
    catalogue = CATALOGUES.get(locale, EN)

    def t(key: str, **values: object) -> str:
        text = catalogue.get(key, key)
        return text.format(**values) if values else text

    return t


def _from_tag(tag: str) -> Locale | None:
    tag = tag.strip().lower()
    if tag == "zh" or tag.startswith("zh-"):
        return "zh-CN"
    if tag == "en" or tag.startswith("en-"):
        return "en"
    return None


def parse_accept_language(header: str | None) -> Locale | None:
    """The supported locale the browser prefers most, by q-value then order; None if none."""
    if not header:
        return None
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0 and tag.strip():
            weighted.append((-quality, position, tag))
    for _, _, tag in sorted(weighted):
        locale = _from_tag(tag)
        if locale is not None:
            return locale
    return None


def choose_locale(cookie: str | None, accept_language: str | None) -> Locale:
    """The language cookie when it names a locale, else the browser's preference, else English."""
    if cookie in CATALOGUES:
        return cookie
    return parse_accept_language(accept_language) or DEFAULT_LOCALE
