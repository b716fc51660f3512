"""`tuneline.targets`: the providers, their models and methods, for the editor's "Select Target" QuickPick.

The editor must not keep its own copy of the provider table (it would drift from providers.toml and
models.toml), so it asks the server: each provider with its title, training backend and methods, and the models
the model table lists for it; plus the target the given document is checked for, so the pick can mark it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from tuneline.analysis.models import ModelTable
from tuneline.analysis.targets import shipped_providers

if TYPE_CHECKING:
    from ..server import TunelineServer

log = logging.getLogger("tuneline.lsp")

# Model-table rows that stand for a provider rather than name a model (`local` is a folder the user chooses).
_PLACEHOLDERS = frozenset({"local"})


def targets_json(models: ModelTable | None = None) -> list[dict[str, Any]]:
    """One entry per provider, in providers.toml's order; models sorted by name, the provider's own only."""
    table = models or ModelTable()
    out = []
    for name, rules in shipped_providers().items():
        names = sorted(n for n, info in table.models.items() if info.provider == name and n not in _PLACEHOLDERS)
        out.append(
            {
                "provider": name,
                "title": rules.title,
                "backend": rules.backend,
                "methods": list(rules.methods),
                "models": names,
            }
        )
    return out


def register(server: TunelineServer) -> None:
    @server.command("tuneline.targets")
    async def targets_command(ls, *args: Any) -> dict[str, Any]:  # no annotation: pygls resolves these at run time
        """`[]` or `[uri]` / `[{"uri": ...}]`: the providers, and the target that document is checked for."""
        value = args[0] if args else None
        uri = value.get("uri") if isinstance(value, dict) else value
        current = None
        if isinstance(uri, str) and uri:
            try:
                current = (await ls.engine_for(uri)).target.as_json()
            except Exception as exc:  # a bad setting is reported by the settings manager; the list still helps
                log.info("tuneline.targets: no current target for %s (%s)", uri, exc)
        return {"providers": targets_json(), "current": current}
