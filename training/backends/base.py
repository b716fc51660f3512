"""The interface every training backend implements, hosted (OpenAI, Together) or local (QLoRA).

A run goes: `prepare` (check the request, say what it will cost; nothing leaves the machine), `start` (upload and
create the job, or launch the local trainer), then `poll` until the run is finished, with `cancel` possible at any
time and `resume` where the backend supports it. `prepare` also runs in the CLI and the language server (for the
pre-flight), so it must stay light; every other method runs only inside the training child process
(`python -m tuneline.training.worker`).

`TrainRequest.from_options` is the one place a front end (the `tuneline train` CLI, the editor's train command)
turns what the user asked for into a request: both accept and refuse the same values with the same sentences.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuneline.analysis.epochs import parse_epochs

from ..runs import RunRecord, RunRegistry


class BackendError(RuntimeError):
    """A failure the user can act on. `str(error)` is one sentence naming the next step; never a secret.

    `retryable`: the run itself is fine (network down, rate limit that outlasted our retries); the worker keeps
    its status so `tuneline runs resume ID` (or the next recovery) tries again instead of marking it failed.
    """

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class RequestError(ValueError):
    """A training option the user gave is unusable: `str(error)` is one sentence naming it."""


@dataclass
class TrainRequest:
    dataset: Path
    model: str | None = None
    validation: Path | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)  # epochs, batch_size, learning_rate_multiplier, ...
    suffix: str | None = None
    seed: int | None = None
    options: dict[str, Any] = field(default_factory=dict)  # backend-specific (e.g. local config path, device)

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": str(self.dataset),
            "model": self.model,
            "validation": str(self.validation) if self.validation else None,
            "hyperparameters": self.hyperparameters,
            "suffix": self.suffix,
            "seed": self.seed,
            "options": self.options,
        }

    @classmethod
    def from_options(
        cls,
        dataset: Path,
        *,
        model: object = None,
        validation: Path | None = None,
        epochs: object = None,
        batch_size: object = None,
        learning_rate_multiplier: object = None,
        learning_rate: object = None,
        suffix: object = None,
        seed: object = None,
        options: object = None,
        names: dict[str, str] | None = None,
    ) -> TrainRequest:
        """A request from a front end's options, each checked here once. `epochs` is "auto", a number or a
        command-line string (`tuneline.analysis.epochs`); unset values (None) are left to the backend.
        `names` maps an option to what the user typed (`{"epochs": "--epochs"}`) for the messages.
        Raises RequestError (a ValueError; the epochs rule raises its own ValueError subclass)."""
        label = {"epochs": "epochs", **(names or {})}.get

        def number(key: str, value: object, *, whole: bool) -> None:
            kinds = (int,) if whole else (int, float)
            if value is None:
                return
            if isinstance(value, bool) or not isinstance(value, kinds) or not value > 0:
                what = "a whole number of at least 1" if whole else "a number above 0"
                raise RequestError(f"{label(key) or key} must be {what}, not {value!r}")
            hp[key] = value

        hp: dict[str, Any] = {}
        n_epochs = parse_epochs(epochs, label("epochs") or "epochs")
        if n_epochs is not None:
            hp["n_epochs"] = n_epochs
        number("batch_size", batch_size, whole=True)
        number("learning_rate_multiplier", learning_rate_multiplier, whole=False)
        number("learning_rate", learning_rate, whole=False)
        for key, value in (("model", model), ("suffix", suffix)):
            if value is not None and not isinstance(value, str):
                raise RequestError(f"{label(key) or key} must be text, not {value!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise RequestError(f"{label('seed') or 'seed'} must be a whole number, not {seed!r}")
        if options is not None and not isinstance(options, dict):
            raise RequestError(f"{label('options') or 'options'} must map option names to values")
        return cls(
            dataset=Path(dataset),
            model=model or None,
            validation=Path(validation) if validation else None,
            hyperparameters=hp,
            suffix=suffix,
            seed=seed,
            options=dict(options or {}),
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainRequest:
        return cls(
            dataset=Path(data["dataset"]),
            model=data.get("model"),
            validation=Path(data["validation"]) if data.get("validation") else None,
            hyperparameters=data.get("hyperparameters") or {},
            suffix=data.get("suffix"),
            seed=data.get("seed"),
            options=data.get("options") or {},
        )


@dataclass
class Plan:
    """What `prepare` found: shown to the user before anything is spent."""

    model: str
    method: str  # "sft" | "dpo"
    examples: int
    tokens: int
    epochs: int
    cost_usd: float | None
    warnings: list[str] = field(default_factory=list)


@dataclass
class Update:
    """One step of progress seen by `poll`: new status, events and metrics to record."""

    status: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    progress: dict[str, Any] | None = None
    result_model: str | None = None
    error: str | None = None


class Backend(ABC):
    """One way to train. Modules holding a backend import their SDK or torch lazily, inside methods: `prepare`
    also runs in the CLI and language server processes, which must stay light."""

    name: str = ""
    supports_resume: bool = False
    key_env: tuple[str, ...] = ()  # environment variables holding this backend's API key (never written anywhere)

    # The worker sets this event when the user asks to cancel (SIGTERM or a cancel request file). Long loops in
    # `poll` wait with `self.wait(seconds)` and stop early; a local trainer checks `self.stop_requested()`.
    stop_event: threading.Event | None = None

    def stop_requested(self) -> bool:
        return self.stop_event is not None and self.stop_event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True when a stop was requested meanwhile (the caller should return)."""
        if self.stop_event is None:
            self.stop_event = threading.Event()
        return self.stop_event.wait(max(0.0, seconds))

    @abstractmethod
    def prepare(self, request: TrainRequest) -> Plan: ...

    @abstractmethod
    def start(self, request: TrainRequest, record: RunRecord, registry: RunRegistry) -> None:
        """Begin the run; record remote ids in `record.remote` and save it through `registry`."""

    @abstractmethod
    def poll(self, record: RunRecord, registry: RunRegistry) -> Iterator[Update]:
        """Yield updates until the run is finished (the caller records them)."""

    @abstractmethod
    def cancel(self, record: RunRecord, registry: RunRegistry) -> None: ...

    def resume(self, record: RunRecord, registry: RunRegistry) -> None:
        raise BackendError(f"the {self.name} backend cannot resume runs; start a new one")
