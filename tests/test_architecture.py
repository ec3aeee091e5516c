"""Architecture rules the import contracts (pyproject.toml, ``lint-imports``) cannot see:
no module reaches for another domain's private names (``_precheck``, ``_sold_out``); it
calls that domain's public service functions; money is shown through ``format_fen``; pages
ask for a signed-in person through one dependency; modules and functions stay small."""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "xiaodian"


DOMAINS = {
    "accounts",
    "categories",
    "merchants",
    "catalog",
    "orders",
    "payments",
    "aftersales",
    "content",
    "console",
    "ops",
}


def _domain(module: str) -> str:
    """xiaodian.content.live.flash -> content (a subpackage is its domain's); the kernel,
    infrastructure and the app are "" (their underscored names are not domains' own)."""
    parts = module.split(".")[1:]
    return parts[0] if parts and parts[0] in DOMAINS else ""


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and name != "_"


def _module_of(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _reaches(path: Path) -> list[str]:
    """``from other import _x`` and ``other_module._x`` in one file."""
    me = _domain(_module_of(path))
    tree = ast.parse(path.read_text())
    aliases: dict[str, str] = {}  # local name -> module it names, for other domains
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("xiaodian"):
            for name in node.names:
                target = f"{node.module}.{name.name}"
                other = _domain(node.module) not in ("", me)
                if other and _private(name.name):
                    found.append(f"{path.name}: from {node.module} import {name.name}")
                if other:
                    aliases[name.asname or name.name] = target
        elif isinstance(node, ast.Import):
            for name in node.names:
                if name.name.startswith("xiaodian") and _domain(name.name) not in ("", me):
                    aliases[name.asname or name.name] = name.name
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and _private(node.attr)
        ):
            found.append(f"{path.name}: {node.value.id}.{node.attr}")
    return found


def test_no_module_uses_another_domains_private_names() -> None:
    found = [hit for path in sorted(SRC.rglob("*.py")) for hit in _reaches(path)]
    assert not found, found


def test_the_rule_sees_a_private_reach(tmp_path: Path) -> None:
    """The scan itself: a module of orders reaching into catalog's privates is found."""
    fake = SRC / "orders" / "_architecture_probe.py"
    fake.write_text(
        "from xiaodian.catalog.service import _leaf_category\n"
        "from xiaodian.catalog import service as catalog_service\n"
        "x = catalog_service._leaf_category\n"
    )
    try:
        assert len(_reaches(fake)) == 2
    finally:
        fake.unlink()


# Money shown through a float: "%.2f" of fen / 100, f"{fen / 100:.2f}", JS's toFixed.
_FLOAT_MONEY = re.compile(r"""%\.2f['"]\s*\|\s*format\(|/ ?100\s*:\s*\.2f|/ ?100\)\.toFixed""")


def _float_money(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*")):
        if path.suffix not in {".py", ".html", ".js"} or path.name.endswith(".min.js"):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _FLOAT_MONEY.search(line):
                found.append(f"{path.relative_to(root)}:{number}")
    return found


def test_money_is_shown_through_format_fen_not_floats() -> None:
    assert _float_money(SRC) == []


def test_the_money_rule_sees_a_float(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text("{{ '%.2f'|format(x / 100) }}\n")
    (tmp_path / "b.py").write_text('label = f"¥{fen / 100:.2f}"\n')
    (tmp_path / "c.js").write_text("const s = (n / 100).toFixed(2);\n")
    assert _float_money(tmp_path) == ["a.html:1", "b.py:1", "c.js:1"]


# --------------------------------------------------------------------------- the HTML pages


def _pages_modules() -> list[Path]:
    """Every HTML router: the ``pages.py`` of each domain (and of a domain's subpackage)."""
    return sorted(SRC.rglob("pages.py"))


def _inline_sign_in_checks(source: str, name: str) -> list[str]:
    """``actor.is_authenticated`` (or ``getattr(actor, "is_authenticated")``) in a module:
    a page asks for a person with ``web.deps.PageUser``, a public page that personalises
    takes ``CurrentActor`` and leaves the question to its service or template."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr == "is_authenticated":
            found.append(f"{name}:{node.lineno}: .is_authenticated")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr")
            and any(
                isinstance(arg, ast.Constant) and arg.value == "is_authenticated"
                for arg in node.args
            )
        ):
            found.append(f"{name}:{node.lineno}: {node.func.id}(..., 'is_authenticated')")
    return sorted(found, key=lambda hit: int(hit.split(":")[1]))


def test_no_pages_module_checks_sign_in_inline() -> None:
    modules = _pages_modules()
    assert len(modules) >= 10, modules  # the scan finds the routers it is about
    found = [
        hit
        for path in modules
        for hit in _inline_sign_in_checks(path.read_text(), str(path.relative_to(SRC)))
    ]
    assert not found, found


def test_the_rule_sees_an_inline_sign_in_check() -> None:
    source = (
        "def page(request, actor):\n"
        "    if not actor.is_authenticated:\n"
        "        return sign_in_redirect(request)\n"
        "    ok = getattr(request.state.actor, 'is_authenticated', False)\n"
        "def fine(actor: PageUser):\n"
        "    return actor.user_id\n"
    )
    assert _inline_sign_in_checks(source, "probe.py") == [
        "probe.py:2: .is_authenticated",
        "probe.py:4: getattr(..., 'is_authenticated')",
    ]


# --------------------------------------------------------------------------- sizes

MAX_MODULE_LINES = 800
MAX_FUNCTION_LINES = 100


def _too_long(root: Path) -> list[str]:
    """Modules over ``MAX_MODULE_LINES`` lines and functions over ``MAX_FUNCTION_LINES``,
    the migrations left out (a migration's ``upgrade`` is the list of its tables, written
    once and never changed)."""
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts[0] == "migrations":
            continue
        source = path.read_text(encoding="utf-8")
        lines = source.count("\n")
        if lines > MAX_MODULE_LINES:
            found.append(f"{rel}: {lines} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found.append(f"{rel}:{node.lineno}: {node.name} {length} lines")
    return found


def test_modules_and_functions_stay_small() -> None:
    """Split by concept, so the next domain copies small modules: a module at most 800
    lines, a function at most 100."""
    assert _too_long(SRC) == []


def test_the_size_rule_sees_a_long_module_and_function(tmp_path: Path) -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "long.py").write_text("def f():\n" + body)
    (tmp_path / "big.py").write_text("x = 1\n" * (MAX_MODULE_LINES + 1))
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "m.py").write_text("x = 1\n" * (MAX_MODULE_LINES + 1))
    assert _too_long(tmp_path) == ["big.py: 801 lines", "long.py:1: f 101 lines"]
