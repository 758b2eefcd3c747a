"""`import synapsis_actors` is cheap: public names load on first use (PEP 562)."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import synapsis_actors


def _run(code: str) -> object:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return json.loads(done.stdout)


def test_import_loads_neither_trio_nor_httpx_nor_the_runtime() -> None:
    loaded = _run(
        "import json, sys, synapsis_actors;"
        "print(json.dumps(sorted(m for m in ('trio', 'httpx', 'attrs', 'tenacity',"
        " 'synapsis_actors.otp', 'synapsis_actors.model.request') if m in sys.modules)))"
    )
    assert loaded == []


def test_first_use_loads_what_it_needs() -> None:
    loaded = _run(
        "import json, sys, synapsis_actors as sa; sa.Request;"
        "print(json.dumps(sorted(m for m in ('httpx', 'synapsis_actors.model.request')"
        " if m in sys.modules)))"
    )
    assert loaded == ["synapsis_actors.model.request"]  # the data model, not the HTTP half


def test_every_public_name_resolves_to_its_module_object() -> None:
    from synapsis_actors import otp
    from synapsis_actors.model import request as types

    for name in synapsis_actors.__all__:
        assert getattr(synapsis_actors, name) is not None, name
    assert synapsis_actors.otp is otp
    assert synapsis_actors.Request is types.Request
    assert synapsis_actors.Supervisor is otp.Supervisor
    assert set(dir(synapsis_actors)) == set(synapsis_actors.__all__)


# --------------------------------------------------------- one table of names
# `_PUBLIC` drives both `__getattr__` and `__all__`; the TYPE_CHECKING block
# repeats it for type checkers, which cannot see through `__getattr__`. These
# tests keep the copies equal, reading `__init__.py` as written.

INIT = Path(synapsis_actors.__file__)


def _type_checking_imports() -> dict[str, str]:
    """name -> module (as written after ``from .``) for the TYPE_CHECKING imports."""
    tree = ast.parse(INIT.read_text(encoding="utf-8"))
    blocks = [
        node
        for node in tree.body
        if isinstance(node, ast.If)
        and isinstance(node.test, ast.Name)
        and node.test.id == "TYPE_CHECKING"
    ]
    assert len(blocks) == 1
    imported: dict[str, str] = {}
    for node in blocks[0].body:
        assert isinstance(node, ast.ImportFrom), ast.unparse(node)
        assert node.level == 1, ast.unparse(node)  # relative: from .<module>
        for alias in node.names:
            # `X as X`: mypy's strict mode re-exports only this form.
            assert alias.asname == alias.name, ast.unparse(node)
            assert alias.name not in imported, f"{alias.name} imported twice"
            imported[alias.name] = node.module or ""
    return imported


def test_type_checking_imports_table_and_all_name_the_same_set() -> None:
    table = synapsis_actors._PUBLIC
    lazy = synapsis_actors._LAZY
    assert sum(len(names) for names in table.values()) == len(lazy), "a name is listed twice"
    assert _type_checking_imports() == lazy  # same names, each from the same module

    errors = synapsis_actors.errors.__all__
    assert not set(errors) & set(lazy)
    assert sorted(synapsis_actors.__all__) == sorted([*errors, *lazy])
    assert len(set(synapsis_actors.__all__)) == len(synapsis_actors.__all__)


def test_each_table_name_is_the_object_its_module_defines() -> None:
    for name, module in synapsis_actors._LAZY.items():
        if module:
            source = importlib.import_module(f"synapsis_actors.{module}")
            assert getattr(synapsis_actors, name) is getattr(source, name), name
        else:  # a subpackage exported as a namespace
            assert getattr(synapsis_actors, name) is importlib.import_module(
                f"synapsis_actors.{name}"
            )


def test_errors_all_lists_every_error_once_and_the_package_exports_them() -> None:
    from synapsis_actors import errors

    tree = ast.parse(Path(errors.__file__).read_text(encoding="utf-8"))
    defined = {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    assert sorted(errors.__all__) == sorted(defined)
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), Exception), name
        # eager: bound at import, not through __getattr__
        assert synapsis_actors.__dict__[name] is getattr(errors, name), name


def test_the_contract_names_are_public() -> None:
    # Every `sa.Name` the API contract uses (../shared/design/api-contract.md)
    # that exists today; the names of capabilities still to come are listed
    # apart so this test does not wait for them.
    contract = {
        "open_runtime", "ProviderConfig", "ProviderNotFound", "Request", "Message",
        "Tool", "open_stream", "ProviderChunk", "TextDelta", "ProviderDone",
        "AssistantMessage", "complete", "MessageStart", "ThinkingDelta",
        "ThinkingSignature", "ToolCallStart", "ToolCallDelta", "ToolCallEnd",
        "UsageUpdate", "ToolCall", "Usage", "ProviderError", "RateLimited",
        "Overloaded", "ServerError", "AuthenticationError", "BadRequest",
        "StreamInterrupted", "StreamStalled", "InvalidStreamData", "StreamCancelled",
        "ChildSpec", "Supervisor", "open_supervisor", "RestartIntensityExceeded",
        "DynamicSupervisor", "TaskSupervisor", "Actor", "Registry",
    }  # fmt: skip
    assert contract <= set(synapsis_actors.__all__)
    for name in contract:
        assert getattr(synapsis_actors, name) is not None
