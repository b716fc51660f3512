"""TL204: a new job for this target would be refused, because the model is shut down or the provider takes no new
fine-tuning jobs any more (OpenAI's calendar ends new jobs on 2027-01-06). Reads only the engine: the model's
shutdown (models.toml, for the provider that listed it) and the provider's `new_jobs_end` (providers.toml)."""

from __future__ import annotations

from collections.abc import Iterator

from ..types import Finding
from .file_rule import FileRule, FileView


class ModelShutdown(FileRule):
    codes = ("TL204",)

    def findings(self, view: FileView) -> Iterator[Finding]:
        engine = view.engine
        model, today, p = engine.model, engine.today, view.provider
        jobs_end = p.new_jobs_end.value
        if model.is_shut_down(today):
            yield Finding("TL204", f"{model.name} was shut down on {model.shutdown}: new jobs for it are refused.")
        elif jobs_end is not None and today >= jobs_end:
            yield Finding(
                "TL204",
                f"{p.title} takes no new fine-tuning jobs since {jobs_end}: choose another target (--target).",
            )
