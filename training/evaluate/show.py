"""Reading back a stored evaluation (`tuneline eval RUN --show`, the editor's report) without sending anything.

Only evaluations of runs this user started here are shown: a repository can ship a run folder with an `eval/` of
its own, and its "results" are nobody's measurement.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import provenance
from ..launch import project_root, registry_for
from ..runs import RunRegistry
from . import report, store
from .plan import EvalError, EvalRequest, find_run


def contract_of(folder: Path) -> dict[str, Any]:
    """The JSON contract of one eval folder, rebuilt from its files."""
    return report.build(store.read_spec(folder), store.read_items(folder), store.read_results(folder), folder)


def run_root(registry: RunRegistry, run_id: str) -> Path:
    """The eval folder root of a run started here; EvalError otherwise."""
    verdict = provenance.check(registry, run_id)
    if not verdict.here:
        raise EvalError(f"{verdict.problem}; its evaluations are not shown")
    return registry.folder(run_id) / "eval"


def latest_for_run(registry: RunRegistry, run_id: str) -> Path:
    root = run_root(registry, run_id)
    folder = store.latest(root)
    if folder is None:
        raise EvalError(f"run {run_id} has no stored evaluation yet: run `tuneline eval {run_id}`")
    return folder


def latest_contract(request: EvalRequest) -> dict[str, Any]:
    registry = registry_for(project_root(request.cwd), request.runs_dir)
    run_id = find_run(registry, request.target)
    if run_id is not None:
        return contract_of(latest_for_run(registry, run_id))
    root = registry.root.parent / "evals"
    mine = []
    for folder in sorted(root.iterdir(), reverse=True) if root.is_dir() else []:
        if not folder.is_dir() or store.read_summary(folder) is None or not store.recorded(folder):
            continue
        try:
            if store.read_spec(folder).get("model") == request.target:
                mine.append(folder)
        except store.StoreError:
            continue
    if not mine:
        raise EvalError(f"no stored evaluation of {request.target} in {root}")
    return contract_of(mine[0])
