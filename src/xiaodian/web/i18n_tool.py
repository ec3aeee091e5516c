"""Keep the translation catalogs in step with the code.

    python -m xiaodian.web.i18n_tool check    # list msgids without a Chinese translation
    python -m xiaodian.web.i18n_tool update [DOMAIN]   # add them (empty) to their domain's .po
    python -m xiaodian.web.i18n_tool fill DOMAIN < pairs.tsv   # msgid<TAB>中文, one a line

A message belongs to the domain whose package or template folder it appears in; the rest
(base layout, errors, shared kernels) belongs to "web".
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po, write_po

from xiaodian.web.i18n import LOCALE_DIR

PACKAGE = Path(__file__).resolve().parent.parent
TEMPLATES = PACKAGE / "web" / "templates"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2)}


def _domain_of(path: Path) -> str:
    """accounts/service.py -> accounts; catalog/storefront/pages.py -> storefront;
    web/templates/merchants/x.html -> merchants; everything shared -> web."""
    rel = path.relative_to(PACKAGE)
    if len(rel.parts) > 2 and rel.parts[0] not in ("web",):
        return rel.parts[1]
    if rel.parts[0] == "web" and len(rel.parts) > 2 and rel.parts[1] == "templates":
        domain = rel.parts[2] if len(rel.parts) > 3 else "web"
        return "web" if domain == "errors" else domain
    if rel.parts[0] in ("web", "seed", "migrations") or len(rel.parts) == 1:
        return "web"
    return rel.parts[0]


def extract() -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for path in sorted(PACKAGE.rglob("*")):
        if "migrations" in path.parts or "seed" in path.parts:
            continue
        if path.suffix == ".py":
            method = "python"
        elif path.suffix == ".html":
            method = "jinja2.ext:babel_extract"
        else:
            continue
        for _lineno, message, _comments, _context in extract_from_file(
            method, str(path), keywords=KEYWORDS
        ):
            msgid = message[0] if isinstance(message, tuple) else message
            if msgid:
                found[_domain_of(path)].add(msgid)
    return found


def _load(domain: str) -> Catalog:
    path = LOCALE_DIR / "zh_CN" / f"{domain}.po"
    if not path.exists():
        return Catalog(locale="zh_CN", domain=domain)
    with path.open("rb") as fh:
        return read_po(fh, locale="zh_CN")


def missing() -> dict[str, list[str]]:
    translated: set[str] = set()
    for po in (LOCALE_DIR / "zh_CN").glob("*.po"):
        with po.open("rb") as fh:
            translated |= {str(m.id) for m in read_po(fh) if m.id and m.string}
    return {
        domain: sorted(ids - translated) for domain, ids in extract().items() if ids - translated
    }


def update(only: str | None = None) -> None:
    for domain, ids in missing().items():
        if only and domain != only:
            continue
        catalog = _load(domain)
        for msgid in ids:
            if msgid not in catalog:
                catalog.add(msgid, "")
        path = LOCALE_DIR / "zh_CN" / f"{domain}.po"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            write_po(fh, catalog, omit_header=True, sort_output=True, width=0)


def fill(pairs: dict[str, str], only: str | None = None) -> set[str]:
    """Set translations (msgid -> Chinese) in the catalogs; return unknown msgids."""
    left = set(pairs)
    for path in sorted((LOCALE_DIR / "zh_CN").glob("*.po")):
        if only and path.stem != only:
            continue
        catalog = _load(path.stem)
        for message in catalog:
            if message.id in pairs:
                message.string = pairs[str(message.id)]
                left.discard(str(message.id))
        with path.open("wb") as fh:
            write_po(fh, catalog, omit_header=True, sort_output=True, width=0)
    return left


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else "check"
    only = sys.argv[2] if len(sys.argv) > 2 else None
    if command in ("update", "fill"):
        update(only)
    if command == "fill":
        # stdin: one "msgid<TAB>translation" per line
        pairs = dict(line.split("\t", 1) for line in sys.stdin.read().splitlines() if "\t" in line)
        for msgid in sorted(fill(pairs, only)):
            print(f"not in any catalog: {msgid}")
    gaps = missing()
    for domain, ids in gaps.items():
        for msgid in ids:
            print(f"{domain}: {msgid}")
    sys.exit(1 if gaps and command == "check" else 0)


if __name__ == "__main__":
    main()
