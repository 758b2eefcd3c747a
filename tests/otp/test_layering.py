"""The runtime is layer 1: it imports only trio, attrs, the stdlib and synapsis_actors.errors."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

OTP = Path(__file__).resolve().parents[2] / "synapsis_actors" / "otp"
ALLOWED_THIRD_PARTY = {"trio", "attrs"}


def test_otp_imports_nothing_from_providers_or_http() -> None:
    files = sorted(OTP.glob("*.py"))
    assert len(files) >= 8
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level == 1:
                    continue  # a sibling inside otp/
                if node.level == 2:
                    assert node.module == "errors", f"{path.name}: from ..{node.module}"
                    continue
                modules = [node.module or ""]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                assert top in ALLOWED_THIRD_PARTY or top in sys.stdlib_module_names, (
                    f"{path.name} imports {module}"
                )
