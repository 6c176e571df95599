"""Applications are intake's core domain: they import none of the domains built on them (issue 12).

Processes that span domains live in :mod:`services.intake.flows`, above them all. The check reads
each module's syntax tree, so a comment or a string naming a module does not count and an import
inside a function, a ``TYPE_CHECKING`` block or ``importlib.import_module("…")`` does.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = "services.intake.applications"
ABOVE = (
    "services.intake.whitelist",
    "services.intake.documents",
    "services.intake.portal",
    "services.intake.fees",
)
FLOWS = "services.intake.flows"
# The HTTP layer of applications calls the flows; the domain modules never do.
MAY_CALL_FLOWS = {"routes.py"}
# Imports of a domain above still to be cut, each with the module it imports. Pinned: the test
# fails when one goes away too, so the list only shrinks.
NOT_YET_CUT: dict[str, set[str]] = {}


def _modules() -> list[Path]:
    return sorted((ROOT / PACKAGE.replace(".", "/")).rglob("*.py"))


def imported(path: Path, root: Path = ROOT) -> set[str]:
    """Every module ``path`` imports, relative imports resolved, ``from a import b`` as both
    ``a`` and ``a.b`` (``b`` may be a module)."""
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            out.add(base)
            out |= {f"{base}.{alias.name}" for alias in node.names}
        elif (
            isinstance(node, ast.Call)
            and _callee(node.func) in {"__import__", "import_module"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            out.add(node.args[0].value)
    return out


def _callee(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else None


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def forbidden(path: Path, root: Path = ROOT) -> set[str]:
    """The imports of ``path`` that reach above applications."""
    above = ABOVE if path.name in MAY_CALL_FLOWS else (*ABOVE, FLOWS)
    return {m for m in imported(path, root) if _within(m, above)}


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_applications_import_no_domain_above(path: Path) -> None:
    found = forbidden(path)
    pinned = tuple(NOT_YET_CUT.get(path.name, ()))
    unpinned = {m for m in found if not _within(m, pinned)}
    assert unpinned == set(), f"{path.name} imports {sorted(unpinned)}"
    gone = [p for p in pinned if not any(_within(m, (p,)) for m in found)]
    assert gone == [], f"{path.name} no longer imports {gone}: unpin it"


class TestScan:
    """The scan itself sees through the ways an import can be written."""

    @pytest.mark.parametrize(
        "source",
        [
            "import services.intake.whitelist.assess\n",
            "from services.intake.documents.on_file import holdings\n",
            "from services.intake import portal\n",
            "from ..fees import sheet\n",
            "def f():\n    from services.intake.fees.sheet import fee_sheet\n",
            "import importlib\nimportlib.import_module('services.intake.portal.webhooks')\n",
            "from services.intake import flows\n",
        ],
    )
    def test_caught(self, tmp_path: Path, source: str) -> None:
        assert forbidden(_written(tmp_path, source), tmp_path)

    @pytest.mark.parametrize(
        "source",
        [
            "# from services.intake.whitelist import assess\n",
            "'''services.intake.portal'''\n",
            "from services.intake.policies.models import Stage\n",
            "from services.intake.whitelisted import x\n",
            "from . import clock\n",
        ],
    )
    def test_not_caught(self, tmp_path: Path, source: str) -> None:
        assert forbidden(_written(tmp_path, source), tmp_path) == set()


def _written(root: Path, source: str) -> Path:
    """``source`` as a module of applications in a tree at ``root`` (the real tree untouched)."""
    path = root / "services" / "intake" / "applications" / "probe.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source, encoding="utf-8")
    return path
