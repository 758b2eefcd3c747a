"""The package keeps its layers: imports point down, never in a circle.

Every module of ``synapsis_actors`` is read with ``ast`` (not imported), and
every import counts: at module level, inside functions and under ``if
TYPE_CHECKING:``. Relative imports are resolved, and ``from pkg import x`` is
an import of the submodule ``pkg.x`` when there is one. Three rules:

(a) a layer imports only the layers the table below allows it (and itself);
(b) no import circle between modules of the package;
(c) only ``transport/`` imports the HTTP client libraries (httpx, httpcore,
    h11, h2, hpack); ``embedded/``, a server, may import h11 (hypercorn's).

A failure names the file, the line and the forbidden edge. The checker is
tested on small fake packages first, so a clean report means something.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = "synapsis_actors"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE

# layer -> the other layers it may import. A layer is a subpackage, or one of
# the top-level modules errors, __init__ and __main__. None: any layer.
ALLOWED: dict[str, frozenset[str] | None] = {
    "errors": frozenset(),
    "otp": frozenset({"errors"}),
    "model": frozenset({"errors"}),
    "wire": frozenset({"model", "errors"}),
    "transport": frozenset({"model", "errors"}),
    "runtime": frozenset({"otp", "model", "wire", "transport", "errors"}),
    "embedded": frozenset({"model", "wire", "errors"}),
    "cli": None,
    "__init__": None,
    "__main__": None,
}

HTTP_LIBRARIES = frozenset({"httpx", "httpcore", "h11", "h2", "hpack"})
# layer -> the HTTP libraries it may import besides transport (which may import all).
HTTP_ALLOWED: dict[str, frozenset[str]] = {
    "transport": HTTP_LIBRARIES,
    "embedded": frozenset({"h11"}),
}


@dataclass(frozen=True)
class Import:
    source: str  # the importing module, dotted
    target: str  # the imported module, dotted and absolute
    path: Path
    line: int

    def where(self, root: Path) -> str:
        return f"{self.path.relative_to(root.parent)}:{self.line}"


def find_modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of the package at ``root``."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = [root.name, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def imports_of(module: str, path: Path, modules: Iterable[str]) -> list[Import]:
    """Every import in ``path`` (any depth), resolved to absolute module names."""
    known = set(modules)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [Import(module, alias.name, path, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                if node.level - 1 >= len(parts):
                    raise ValueError(f"{path}:{node.lineno}: relative import beyond the top")
                base = ".".join(parts[: len(parts) - (node.level - 1)])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                target = sub if sub in known else base
                found.append(Import(module, target, path, node.lineno))
    return found


def layer_of(module: str) -> str | None:
    """The layer a module of the package belongs to (None: none of them)."""
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    return parts[1] if parts[1] in ALLOWED else None


def in_package(target: str, package: str) -> bool:
    return target == package or target.startswith(package + ".")


def layer_violations(imports: Iterable[Import], root: Path) -> list[str]:
    """Imports from a layer to one it may not import (rule a)."""
    found = []
    for imp in imports:
        if not in_package(imp.target, root.name):
            continue
        source, target = layer_of(imp.source), layer_of(imp.target)
        if source is None or target is None:
            outside = imp.source if source is None else imp.target
            found.append(f"{imp.where(root)}: {outside} is in no layer (see ALLOWED)")
            continue
        allowed = ALLOWED[source]
        if source == target or allowed is None or target in allowed:
            continue
        found.append(
            f"{imp.where(root)}: {source} -> {target} ({imp.source} imports {imp.target});"
            f" {source} may import only {', '.join(sorted(allowed)) or 'nothing of the package'}"
        )
    return found


def http_violations(imports: Iterable[Import], root: Path) -> list[str]:
    """HTTP client libraries imported outside ``transport/`` (rule c)."""
    found = []
    for imp in imports:
        library = imp.target.partition(".")[0]
        if library not in HTTP_LIBRARIES:
            continue
        layer = layer_of(imp.source) or "?"
        if library in HTTP_ALLOWED.get(layer, frozenset()):
            continue
        found.append(
            f"{imp.where(root)}: {layer} -> {library} ({imp.source} imports {imp.target});"
            " only transport/ may import an HTTP client library"
        )
    return found


def cycle_violations(imports: Iterable[Import], root: Path) -> list[str]:
    """Import circles between modules of the package (rule b), each as a path."""
    edges: dict[str, dict[str, Import]] = {}
    for imp in imports:
        if in_package(imp.target, root.name):
            edges.setdefault(imp.source, {}).setdefault(imp.target, imp)
    found = []
    for component in _strongly_connected(edges):
        if len(component) == 1:
            (only,) = component
            if only not in edges.get(only, {}):
                continue
        start = min(component)
        path = _path_back(start, edges, component)
        steps = [edges[a][b] for a, b in itertools.pairwise(path)]
        found.append(
            "import circle: "
            + " -> ".join(path)
            + " ("
            + ", ".join(f"{step.where(root)}" for step in steps)
            + ")"
        )
    return found


def _strongly_connected(edges: dict[str, dict[str, Import]]) -> list[set[str]]:
    """Tarjan's strongly connected components (iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    nodes = sorted(set(edges) | {t for targets in edges.values() for t in targets})
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, {}))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, {})))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                components.append(component)
    return components


def _path_back(start: str, edges: dict[str, dict[str, Import]], within: set[str]) -> list[str]:
    """The shortest path start -> ... -> start inside one strongly connected component."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(edges.get(node, {})):
                if child == start:
                    back = [node]
                    while back[-1] != start:
                        back.append(previous[back[-1]])
                    return [*reversed(back), start]
                if child in within and child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f"no circle through {start}")


def check(root: Path) -> dict[str, list[str]]:
    """Every violation of the package at ``root``, by rule."""
    modules = find_modules(root)
    imports = [imp for module, path in modules.items() for imp in imports_of(module, path, modules)]
    return {
        "layers": layer_violations(imports, root),
        "circles": cycle_violations(imports, root),
        "http": http_violations(imports, root),
    }


# ------------------------------------------------------------ the package itself


@pytest.fixture(scope="module")
def report() -> dict[str, list[str]]:
    return check(ROOT)


def test_the_checker_reads_the_whole_package() -> None:
    modules = find_modules(ROOT)
    layers = {layer_of(module) for module in modules}
    assert layers == set(ALLOWED), "a layer is missing or a module is in none"
    imports = [imp for module, path in modules.items() for imp in imports_of(module, path, modules)]
    # Guards the reader: lazy imports in function bodies and TYPE_CHECKING
    # imports are seen (the package's __init__ has only those).
    assert any(
        imp.source == PACKAGE and imp.target == f"{PACKAGE}.runtime.runtime" for imp in imports
    )


def test_layers_import_only_the_layers_below(report: dict[str, list[str]]) -> None:
    assert report["layers"] == [], "\n".join(["forbidden imports:", *report["layers"]])


def test_no_import_circles(report: dict[str, list[str]]) -> None:
    assert report["circles"] == [], "\n".join(report["circles"])


def test_only_transport_imports_http_client_libraries(report: dict[str, list[str]]) -> None:
    assert report["http"] == [], "\n".join(["HTTP imports outside transport/:", *report["http"]])


# ----------------------------------------------------- the checker, on fakes


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    """A fake package ``fakepkg`` under ``tmp_path``: path -> source."""
    root = tmp_path / "fakepkg"
    for name, source in {"__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.relative_to(root).parents:
            (root / parent / "__init__.py").touch()
        path.write_text(source, encoding="utf-8")
    return root


CLEAN = {
    "__init__.py": (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .runtime import run\n"
    ),
    "errors.py": "class Oops(Exception):\n    pass\n",
    "otp/actor.py": "from ..errors import Oops\nfrom . import spec\n",
    "otp/spec.py": "import trio\n",
    "model/request.py": "from .. import errors\n",
    "wire/anthropic.py": "from ..model import request\nfrom ..model.request import X\n",
    "transport/client.py": "import httpx\nimport h2.config\nfrom ..model import request\n",
    "runtime/__init__.py": "from ..otp.actor import A\nfrom ..transport import client\n",
    "embedded/server.py": "import h11\nimport hypercorn\nfrom ..wire import anthropic\n",
    "cli/main.py": "import fakepkg\nfrom fakepkg.runtime import run\n",
    "__main__.py": "from .cli.main import main\n",
}


def test_a_clean_package_passes(tmp_path: Path) -> None:
    root = _package(tmp_path, CLEAN)
    assert check(root) == {"layers": [], "circles": [], "http": []}


def test_relative_imports_resolve_to_modules(tmp_path: Path) -> None:
    root = _package(tmp_path, CLEAN)
    modules = find_modules(root)
    targets = {
        imp.target
        for module, path in modules.items()
        for imp in imports_of(module, path, modules)
        if module in ("fakepkg.otp.actor", "fakepkg.model.request", "fakepkg.wire.anthropic")
    }
    assert targets == {"fakepkg.errors", "fakepkg.otp.spec", "fakepkg.model.request"}


@pytest.mark.parametrize(
    ("rule", "file", "source", "edge"),
    [
        ("layers", "otp/supervisor.py", "from ..runtime import run\n", "otp -> runtime"),
        ("layers", "otp/supervisor.py", "import fakepkg.model.request\n", "otp -> model"),
        ("layers", "otp/supervisor.py", "from fakepkg import Oops\n", "otp -> __init__"),
        ("layers", "errors.py", "def f():\n    from .otp import spec\n", "errors -> otp"),
        (
            "layers",
            "model/request.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..wire import sse\n",
            "model -> wire",
        ),
        (
            "layers",
            "transport/retry.py",
            "def f():\n    from ..wire.anthropic import X\n",
            "transport -> wire",
        ),
        ("layers", "wire/openai.py", "from ..runtime import run\n", "wire -> runtime"),
        (
            "layers",
            "embedded/app.py",
            "from ..transport.client import C\n",
            "embedded -> transport",
        ),
        ("http", "runtime/job.py", "import httpx\n", "runtime -> httpx"),
        ("http", "wire/sse.py", "def f():\n    import httpcore._async\n", "wire -> httpcore"),
        ("http", "embedded/app.py", "from httpx import AsyncClient\n", "embedded -> httpx"),
        ("http", "embedded/app.py", "import h2.connection\n", "embedded -> h2"),
        (
            "http",
            "model/http.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import hpack\n",
            "model -> hpack",
        ),
        ("http", "cli/main.py", "import h11\n", "cli -> h11"),
    ],
)
def test_a_forbidden_import_is_caught_once_by_its_rule(
    tmp_path: Path, rule: str, file: str, source: str, edge: str
) -> None:
    """An upward import (rule a) or an HTTP import outside transport/ (rule c),
    at module level, in a function or under TYPE_CHECKING."""
    report = check(_package(tmp_path, {**CLEAN, file: source}))
    line = source.count("\n")  # the import is the last line of each source
    assert len(report[rule]) == 1, report
    assert report[rule][0].startswith(f"fakepkg/{file}:{line}: {edge} ("), report
    assert all(found == [] for name, found in report.items() if name != rule), report


def test_a_module_in_no_layer_is_caught(tmp_path: Path) -> None:
    root = _package(tmp_path, {**CLEAN, "helpers.py": "from . import errors\n"})
    assert check(root)["layers"] == [
        "fakepkg/helpers.py:1: fakepkg.helpers is in no layer (see ALLOWED)"
    ]


def test_a_circle_is_caught_as_a_path(tmp_path: Path) -> None:
    files = {
        **CLEAN,
        "model/a.py": "from . import b\n",
        "model/b.py": "import os\n\n\ndef f():\n    from .c import Z\n",
        "model/c.py": "from .a import Y\n",
    }
    report = check(_package(tmp_path, files))
    assert report["circles"] == [
        "import circle: fakepkg.model.a -> fakepkg.model.b -> fakepkg.model.c -> fakepkg.model.a"
        " (fakepkg/model/a.py:1, fakepkg/model/b.py:5, fakepkg/model/c.py:1)"
    ]
    assert report["layers"] == []


def test_a_circle_through_a_package_init_is_caught(tmp_path: Path) -> None:
    files = {
        **CLEAN,
        "otp/__init__.py": "from .actor import A\n",
        "otp/spec.py": "from . import X\n",
    }
    report = check(_package(tmp_path, files))
    assert report["circles"] == [
        "import circle: fakepkg.otp -> fakepkg.otp.actor -> fakepkg.otp.spec -> fakepkg.otp"
        " (fakepkg/otp/__init__.py:1, fakepkg/otp/actor.py:2, fakepkg/otp/spec.py:1)"
    ]


def test_a_self_import_is_a_circle(tmp_path: Path) -> None:
    report = check(_package(tmp_path, {**CLEAN, "wire/sse.py": "from . import sse\n"}))
    assert report["circles"] == [
        "import circle: fakepkg.wire.sse -> fakepkg.wire.sse (fakepkg/wire/sse.py:1)"
    ]
