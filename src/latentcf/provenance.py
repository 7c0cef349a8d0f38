"""Which package code a workflow step runs, as a short hash (so upgrading the package reruns it).

Snakemake reruns a job when its `script:` file changes, but not when the package code that the
script imports changes. Each rule therefore gets a ``code`` param: the hash of every
``latentcf`` module the script can reach through imports (found statically, lazy imports
inside functions included). A stage whose code changed reruns with everything after it; a
change to another stage's modules, a comment or a docstring reruns nothing.

:mod:`latentcf.config` is not followed: it validates and fills in defaults, and the filled-in
values reach every rule through its params already (a changed default reruns what uses it);
following it would make every stage depend on every other stage's config checks.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

PACKAGE = "latentcf"
PACKAGE_DIR = Path(__file__).resolve().parent
NOT_FOLLOWED = frozenset({"latentcf.config"})


def code_version(script: str | Path) -> str:
    """16-hex-digit hash of the latentcf modules reachable from `script` (a .py file)."""
    modules = sorted(_closure(_imported_modules(Path(script).resolve())))
    digest = hashlib.sha256()
    for name in modules:
        digest.update(name.encode() + b"\0" + _normalised_source(name).encode() + b"\0")
    return digest.hexdigest()[:16]


def module_file(name: str) -> Path | None:
    """Source file of a latentcf module name ('latentcf.io'), or None if it is not one."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = PACKAGE_DIR.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _closure(start: set[str]) -> set[str]:
    seen: set[str] = set()
    todo = [m for m in start if module_file(m)]
    while todo:
        name = todo.pop()
        if name in seen or name in NOT_FOLLOWED:
            continue
        seen.add(name)
        parent = name.rsplit(".", 1)[0]
        if parent != name and module_file(parent):
            todo.append(parent)  # importing a.b runs a/__init__.py
        todo.extend(m for m in _imported_modules(module_file(name)) if module_file(m))
    return seen


@functools.cache
def _imported_modules(path: Path) -> frozenset[str]:
    """Absolute names of the modules a file imports ('from a import b' yields a and a.b)."""
    tree = ast.parse(path.read_text(), str(path))
    package = _package_of(path)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and _is_import_module_call(node):
            found.add(node.args[0].value)  # importlib.import_module("latentcf.x")
    return frozenset(found)


def _is_import_module_call(node: ast.Call) -> bool:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return (
        name == "import_module"
        and bool(node.args)
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    )


def _package_of(path: Path) -> str:
    try:
        rel = path.relative_to(PACKAGE_DIR)
    except ValueError:
        return ""
    parts = [PACKAGE, *rel.with_suffix("").parts]
    return ".".join(parts if path.name == "__init__.py" else parts[:-1])


@functools.cache
def _normalised_source(name: str) -> str:
    """The module's code without comments, formatting and docstrings (ast.dump)."""
    tree = ast.parse(module_file(name).read_text())
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)
