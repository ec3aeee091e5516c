"""Simplified Chinese and English. Msgids are English; Chinese lives in .po catalogs.

Each domain keeps its own catalog (``locale/zh_CN/<domain>.po``); they are read with Babel
and merged at start, so there is no compile step and no generated file to keep in sync.
"""

from __future__ import annotations

import gettext as _gettext
from collections.abc import Callable
from functools import cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).parent / "locale"
SUPPORTED = ("zh_CN", "en")
DEFAULT = "zh_CN"
LANG_COOKIE = "xd_lang"

Gettext = Callable[[str], str]


@cache
def translations(locale: str) -> _gettext.NullTranslations:
    if locale == "en":
        return _gettext.NullTranslations()
    merged: _gettext.GNUTranslations | None = None
    for po in sorted((LOCALE_DIR / locale).glob("*.po")):
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=locale)
        buf = BytesIO()
        write_mo(buf, catalog)
        buf.seek(0)
        part = _gettext.GNUTranslations(buf)
        if merged is None:
            merged = part
        else:
            merged._catalog.update(part._catalog)  # type: ignore[attr-defined]
    return merged or _gettext.NullTranslations()


def gettext_for(locale: str) -> Gettext:
    return translations(locale).gettext


def normalize(tag: str | None) -> str | None:
    if not tag:
        return None
    tag = tag.strip().replace("-", "_").lower()
    if tag.startswith("zh"):
        return "zh_CN"
    if tag.startswith("en"):
        return "en"
    return None


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The switch in the page (a cookie) wins; then Accept-Language; then Chinese."""
    chosen = normalize(cookie)
    if chosen:
        return chosen
    if accept_language:
        weighted = []
        for i, part in enumerate(accept_language.split(",")):
            lang, _, q = part.strip().partition(";q=")
            try:
                weight = float(q) if q else 1.0
            except ValueError:
                weight = 0.0
            weighted.append((-weight, i, lang))
        for _w, _i, lang in sorted(weighted):
            found = normalize(lang)
            if found:
                return found
    return DEFAULT
