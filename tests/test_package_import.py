"""`import synapsis_actors` is cheap: public names load on first use (PEP 562)."""

from __future__ import annotations

import json
import subprocess
import sys

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
