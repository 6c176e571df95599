"""Every place the code builds an error, read from the source (错误码扫描).

An AST walk over ``services/`` and ``shared/`` finds:

* the error classes: :class:`shared.errors.HuodianError` and every subclass, with the status and
  code each sets (inherited when it sets none);
* the raise sites: each call of an error class (``raise NotFound("…", code="x")``, a helper that
  returns ``Conflict(…)``) and each ``Problem(code=…, status=…)`` built by hand, with its code, the
  status its class gives and the English detail as a ``parse`` pattern (an f-string's values
  become ``{}`` fields);
* the routes: each function under an ``@router.get(…)``-style decorator, and the codes it can
  raise, found through the names it refers to (its body, its ``Depends(…)`` parameters and its
  decorator's ``dependencies=``), followed function by function. Names are matched by name, not by
  import, so a route may list a code it cannot in fact raise; never the other way round.

``python -m tests.shared.error_scan > shared/route_errors.json`` writes the route → codes map the
apps document in OpenAPI (``shared.errors.document_route_errors``); a test fails when it is stale.
"""

from __future__ import annotations

import ast
import json
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("services", "shared")
ROUTE_METHODS = {"get", "post", "put", "patch", "delete", "head", "options", "api_route"}


@dataclass(frozen=True)
class ErrorClass:
    name: str
    bases: tuple[str, ...]
    status: int | None
    code: str | None


@dataclass(frozen=True)
class Site:
    """One place an error is built."""

    module: str
    line: int
    function: str  # the enclosing function's name ('' at module level)
    cls: str  # the error class, or 'Problem'
    code: str | None  # None: the code is computed (not a literal)
    status: int | None
    pattern: str | None  # the English detail as a parse pattern; None when it is computed


@dataclass
class Scan:
    classes: dict[str, ErrorClass] = field(default_factory=dict)
    sites: list[Site] = field(default_factory=list)
    # function name -> names it refers to; several functions may share a name
    refs: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    direct: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    routes: dict[str, set[str]] = field(default_factory=dict)  # "module:function" -> names
    factories: dict[str, tuple[int | None, str | None]] = field(default_factory=dict)

    def resolve(self, cls: str) -> tuple[int | None, str | None]:
        status: int | None = None
        code: str | None = None
        seen: set[str] = set()
        todo = [cls]
        while todo and (status is None or code is None):
            name = todo.pop(0)
            if name in seen or name not in self.classes:
                continue
            seen.add(name)
            item = self.classes[name]
            status = status if status is not None else item.status
            code = code if code is not None else item.code
            todo.extend(item.bases)
        return status, code

    def codes_of(self, names: set[str]) -> set[str]:
        seen: set[str] = set()
        todo = list(names)
        codes: set[str] = set()
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            codes |= self.direct.get(name, set())
            todo.extend(self.refs.get(name, ()))
        return codes


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def _files() -> list[Path]:
    return sorted(p for top in SOURCES for p in (ROOT / top).rglob("*.py"))


def _literal(node: ast.expr | None) -> object:
    try:
        return ast.literal_eval(node) if node is not None else None
    except ValueError:
        return None


def pattern_of(node: ast.expr | None) -> str | None:
    """The English detail as a ``parse`` pattern: literal text kept, each value a ``{}``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.replace("{", "{{").replace("}", "}}")
    if isinstance(node, ast.JoinedStr):
        parts: list[str] = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value).replace("{", "{{").replace("}", "}}"))
            else:
                parts.append("{}")
        return "".join(parts)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = pattern_of(node.left), pattern_of(node.right)
        if left is not None and right is not None:
            return left + right
    return None


def _collect_classes(trees: dict[str, ast.Module], scan: Scan) -> None:
    found = True
    known = {"HuodianError"}
    scan.classes["HuodianError"] = ErrorClass("HuodianError", (), 400, "bad_request")
    while found:  # subclasses of subclasses, across modules, until nothing new
        found = False
        for tree in trees.values():
            for node in ast.walk(tree):
                if not isinstance(node, ast.ClassDef) or node.name in known:
                    continue
                bases = tuple(b.id for b in node.bases if isinstance(b, ast.Name))
                if not any(b in known for b in bases):
                    continue
                status: int | None = None
                code: str | None = None
                for stmt in node.body:
                    if isinstance(stmt, ast.Assign):
                        targets = stmt.targets[0]
                        names = (
                            [t.id for t in targets.elts if isinstance(t, ast.Name)]
                            if isinstance(targets, ast.Tuple)
                            else [targets.id]
                            if isinstance(targets, ast.Name)
                            else []
                        )
                        values = _literal(stmt.value)
                        if isinstance(targets, ast.Tuple) and isinstance(values, tuple):
                            pairs = dict(zip(names, values, strict=False))
                        else:
                            pairs = dict.fromkeys(names, values)
                        if isinstance(pairs.get("status"), int):
                            status = pairs["status"]  # type: ignore[assignment]
                        if isinstance(pairs.get("code"), str):
                            code = pairs["code"]  # type: ignore[assignment]
                scan.classes[node.name] = ErrorClass(node.name, bases, status, code)
                known.add(node.name)
                found = True


def _callee(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def _names(node: ast.AST) -> set[str]:
    out: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            out.add(sub.id)
        elif isinstance(sub, ast.Attribute):
            out.add(sub.attr)
    return out


def _is_route(decorator: ast.expr) -> bool:
    return (
        isinstance(decorator, ast.Call)
        and isinstance(decorator.func, ast.Attribute)
        and decorator.func.attr in ROUTE_METHODS
        and bool(decorator.args)
        and isinstance(decorator.args[0], ast.Constant)
    )


class _Walker(ast.NodeVisitor):
    def __init__(self, module: str, scan: Scan, tree: ast.Module) -> None:
        self.module = module
        self.scan = scan
        self.stack: list[str] = []
        self.imported: dict[str, str] = {}  # a name -> "module:name" or "module" (an alias)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    self.imported[alias.asname or alias.name] = f"{node.module}:{alias.name}"
                    if node in tree.body:  # a re-export (``from shared.auth import CurrentAdmin``)
                        local = self._key(alias.asname or alias.name)
                        self.scan.refs[local].add(f"{node.module}:{alias.name}")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    self.imported[alias.asname or alias.name] = alias.name

    def _resolve(self, node: ast.AST) -> set[str]:
        """The functions ``node`` refers to, as "module:name"."""
        out: set[str] = set()
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name):
                target = self.imported.get(sub.id, f"{self.module}:{sub.id}")
                if ":" in target:
                    out.add(target)
                    # ``from pkg import module`` then ``module.f``: the attribute names below
                    out.add(target.replace(":", "."))
            elif isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name):
                base = self.imported.get(sub.value.id)
                if base is not None:
                    out.add(f"{base.replace(':', '.')}:{sub.attr}")
                elif sub.value.id in ("self", "cls"):
                    out.add(f"{self.module}:{sub.attr}")
        return out

    def _key(self, name: str) -> str:
        return f"{self.module}:{name}"

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        refs = self._resolve(node) - {self._key(node.name)}
        self.scan.refs[self._key(node.name)] |= refs
        if any(_is_route(d) for d in node.decorator_list):
            self.scan.routes[self._key(node.name)] = refs
        self.stack.append(node.name)
        self.generic_visit(node)
        self.stack.pop()

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function

    def visit_Assign(self, node: ast.Assign) -> None:
        # A module-level alias (``CurrentPrincipal = Annotated[..., Depends(current)]``).
        if not self.stack:
            for target in node.targets:
                if isinstance(target, ast.Name):
                    self.scan.refs[self._key(target.id)] |= self._resolve(node.value)
        self.generic_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        # A class's methods are reached through the class's name too (a dependency class).
        self.scan.refs[self._key(node.name)] |= self._resolve(node) - {self._key(node.name)}
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        name = _callee(node)
        keywords = {k.arg: k.value for k in node.keywords if k.arg}
        if (name in self.scan.classes and name != "HuodianError") or name == "HuodianError":
            status, code = self.scan.resolve(name)
            if "code" in keywords:
                value = _literal(keywords["code"])
                code = value if isinstance(value, str) else None
            detail = node.args[0] if node.args else keywords.get("detail")
            self._add(name, code, status, pattern_of(detail), node.lineno)
        elif name == "Problem" and "code" in keywords:
            value, status = _literal(keywords["code"]), _literal(keywords.get("status"))
            self._add(
                "Problem",
                value if isinstance(value, str) else None,
                status if isinstance(status, int) else None,
                pattern_of(keywords.get("detail")),
                node.lineno,
            )
        self.generic_visit(node)

    def _add(
        self, cls: str, code: str | None, status: int | None, pattern: str | None, line: int
    ) -> None:
        function = self.stack[-1] if self.stack else ""
        if code is None and self.stack:
            # The code comes in as an argument of the (outer) function: a factory such as
            # ``_staff(..., code="admin_required")``; its callers name the codes.
            self.scan.factories[self.stack[0]] = (status, pattern)
            return
        self.scan.sites.append(Site(self.module, line, function, cls, code, status, pattern))
        if code is not None:
            self.scan.direct[self._key(function)].add(code)


def scan() -> Scan:
    trees = {_module(p): ast.parse(p.read_text(encoding="utf-8"), str(p)) for p in _files()}
    result = Scan()
    _collect_classes(trees, result)
    for module, tree in trees.items():
        _Walker(module, result, tree).visit(tree)
    for module, tree in trees.items():  # the codes handed to the factories
        for node, alias in _calls_with_alias(tree):
            if isinstance(node, ast.Call) and _callee(node) in result.factories:
                status, pattern = result.factories[_callee(node) or ""]
                # A module-level alias (``CurrentClerk = Annotated[..., Depends(factory(
                # code="clerk_required"))]``) answers with its own code, not every caller's.
                owner = (
                    f"{module}:{alias}"
                    if alias
                    else next(k for k in result.refs if k.endswith(f":{_callee(node)}"))
                )
                for keyword in node.keywords:
                    value = _literal(keyword.value) if keyword.arg == "code" else None
                    if isinstance(value, str):
                        result.sites.append(
                            Site(module, node.lineno, "", "factory", value, status, pattern)
                        )
                        result.direct[owner].add(value)
    return result


def _calls_with_alias(tree: ast.Module) -> list[tuple[ast.AST, str | None]]:
    """Every node of ``tree``, with the name of the module-level assignment it is part of."""
    found: list[tuple[ast.AST, str | None]] = []
    for statement in tree.body:
        targets = statement.targets if isinstance(statement, ast.Assign) else []
        alias = targets[0].id if len(targets) == 1 and isinstance(targets[0], ast.Name) else None
        found.extend((node, alias) for node in ast.walk(statement))
    return found


def route_errors(result: Scan) -> dict[str, list[str]]:
    """Each route ("module:function") → the codes it can answer with, sorted."""
    return {
        route: sorted(result.codes_of(names))
        for route, names in sorted(result.routes.items())
        if result.codes_of(names)
    }


def main() -> None:
    json.dump(route_errors(scan()), sys.stdout, ensure_ascii=False, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
