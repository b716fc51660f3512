"""The layering rules of docs/contracts.md, checked on the source with `ast`."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEAVY = (
    "torch",
    "transformers",
    "trl",
    "peft",
    "bitsandbytes",
    "openai",
    "together",
    "sentence_transformers",
    "datasets",
)


def imports(folder: Path) -> dict[Path, set[str]]:
    out = {}
    for path in folder.rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
            elif isinstance(node, ast.ImportFrom) and node.level:
                names.add("." * node.level + (node.module or ""))
        out[path] = names
    return out


def top(name: str) -> str:
    return name.split(".")[0]


def test_analysis_is_pure():
    for path, names in imports(REPO / "server" / "analysis").items():
        bad = {
            n
            for n in names
            if top(n) in ("pygls", "lsprotocol", *HEAVY) or n.startswith(("tuneline.training", "tuneline.lsp"))
        }
        bad |= (
            {n for n in names if n.startswith("..") and not n.startswith("...")}
            if path.parent.name == "analysis"
            else set()
        )
        assert not bad, f"{path.relative_to(REPO)} imports {bad}"


def test_language_server_never_imports_heavy_libraries():
    lsp = REPO / "server" / "lsp"
    if not lsp.exists():
        return
    for path, names in imports(lsp).items():
        bad = {n for n in names if top(n) in HEAVY}
        assert not bad, f"{path.relative_to(REPO)} imports {bad}"


def test_light_entry_points_load_no_heavy_or_optional_library():
    """A lint-only install (`tuneline[lsp]`) has no numpy, datasketch, torch or SDK: the CLI, the server and the
    pre-flight must start without them, and load them only when a feature that needs them runs."""
    import subprocess
    import sys

    code = (
        "import sys, tuneline.cli, tuneline.lsp.server, tuneline.training.preflight, tuneline.neardup.checks;"
        "print(','.join(m for m in ('numpy', 'datasketch', *sys.argv[1:]) if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code, *HEAVY], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""
