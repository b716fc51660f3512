"""TL204: the target model is shut down, so a new job for it would be refused. Reads only the engine."""

from __future__ import annotations

from collections.abc import Iterator

from ..types import Finding
from .file_rule import FileRule, FileView


class ModelShutdown(FileRule):
    codes = ("TL204",)

    def findings(self, view: FileView) -> Iterator[Finding]:
        model, today = view.engine.model, view.engine.today
        if model.is_shut_down(today):
            yield Finding("TL204", f"{model.name} was shut down on {model.shutdown}: new jobs for it are refused.")
