"""Imports flow one way: kernels -> arrow -> hdc/quant -> cogrecord (DESIGN.md)."""

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "python" / "cogtensor"

# module -> cogtensor modules it may import
ALLOWED = {
    "arrow": set(),
    "quant": {"_kernels"},
    "hdc": {"_kernels", "arrow"},
    "cogrecord": {"arrow", "quant"},
    "cli": {"cogrecord", "hdc", "kernels_info"},
}


def cogtensor_imports(path):
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cogtensor"):
            sub = node.module.split(".")[1:] or [a.name for a in node.names]
            found.update(sub if node.module != "cogtensor" else [a.name for a in node.names])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("cogtensor."))
    return found


def test_imports_flow_one_way():
    for module, allowed in ALLOWED.items():
        used = cogtensor_imports(PKG / f"{module}.py")
        assert used <= allowed, f"{module} imports {used - allowed}"
