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
    """A lint-only install (`tuneline[lsp]`) has no numpy, torch or SDK: the CLI, the server and the
    pre-flight must start without them, and load them only when a feature that needs them runs."""
    import subprocess
    import sys

    code = (
        "import sys, tuneline.cli, tuneline.lsp.server, tuneline.training.preflight, tuneline.neardup.checks;"
        "print(','.join(m for m in ('numpy', 'scipy', 'tokenizers', *sys.argv[1:]) if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code, *HEAVY], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""


# --- training/ ---------------------------------------------------------------------------------------------------
# What training/ (installed as tuneline.training) may take from the server side: the pure analysis engine, the
# atomic-write primitive, the file watcher (run followers) and the pure near-duplicate checks (the pre-flight's
# train/validation overlap). Never the language server, never a CLI command module: those are front ends that use
# training, not the other way.
# tuneline.token_counters: the pre-flight counts a target's tokens as `tuneline check` does (it imports only
# tuneline.analysis when loaded; the local backend's counting code lazily).
TRAINING_MAY_IMPORT = (
    "tuneline.analysis",
    "tuneline.fileio",
    "tuneline.fswatch",
    "tuneline.neardup.checks",
    "tuneline.token_counters",
)
# The `train`/`runs` commands module raises the CLI's UsageError (exit 2, one line), taken from the shared
# helpers, never from a command module.
TRAINING_CLI_MAY_IMPORT = ("tuneline.cli.common",)
# A backend's implementation modules pull in an SDK or torch when they run: the server and the CLI reach them only
# by name through `backends.get_backend`, inside the pre-flight or the worker process.
BACKEND_LIGHT = ("tuneline.training.backends.base", "tuneline.training.backends.registry")


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _relative_levels(path: Path) -> set[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.level for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level}


def test_training_imports_only_the_analysis_side_of_the_server():
    training = REPO / "training"
    for path, names in imports(training).items():
        outside = {n for n in names if top(n) == "tuneline" and not n.startswith("tuneline.training")}
        allowed = TRAINING_MAY_IMPORT + (TRAINING_CLI_MAY_IMPORT if path == training / "commands.py" else ())
        bad = {n for n in outside if not _within(n, allowed)}
        assert not bad, f"{path.relative_to(REPO)} imports {bad} from the server side"
        assert not any(n == "tuneline" for n in names), f"{path.relative_to(REPO)} imports the bare package"


def test_no_relative_import_climbs_out_of_training():
    """training/ and server/ are one package only once installed (the package-dir mapping): a relative import that
    leaves training/ hides which server module it needs. Cross the mapping with absolute `tuneline.` imports."""
    training = REPO / "training"
    for path in training.rglob("*.py"):
        depth = len(path.relative_to(training).parts) - 1  # packages below training/ holding this module
        deepest = max(_relative_levels(path), default=0)
        assert deepest <= depth + 1, f"{path.relative_to(REPO)} climbs out of training/ with a relative import"


def test_the_server_never_imports_a_backends_heavy_modules():
    for path, names in imports(REPO / "server").items():
        bad = {
            n
            for n in names
            if (n.startswith("tuneline.training.backends.") and not _within(n, BACKEND_LIGHT))
            or _within(n, ("tuneline.training.worker",))
        }
        assert not bad, f"{path.relative_to(REPO)} imports {bad}"


def test_training_front_ends_share_one_backend_list_and_epochs_rule():
    """The backend names and the epochs bounds are written once (backends/registry.py, analysis/epochs.py)."""
    for path in [*(REPO / "training").rglob("*.py"), REPO / "server" / "lsp" / "features" / "train.py"]:
        text = path.read_text(encoding="utf-8")
        assert '("openai", "together", "local")' not in text, f"{path.relative_to(REPO)} lists the backends again"
        assert "<= 50" not in text, f"{path.relative_to(REPO)} writes the epochs bound again"
