"""Token counts for `tuneline check`, by the very code that builds the trainer's rows.

`to_example` and `tokenize_sft` (data.py) turn a line into input ids and labels exactly as `prepare` does for a run;
SFTTrainer then keeps the first `max_length` tokens and drops rows left without a label. What is left, and how many
of those carry a loss, is what one epoch trains on (`LocalTokenCounter`, for `--target local:PATH`; the tokenizer loads
offline through loading.py like a run's).

An open model at a hosted provider (Together, Fireworks, an OpenAI-compatible endpoint) is counted by the same
code with its family's Hugging Face tokenizer, at full length: the provider truncates by its own rules
(`TemplateLengthCounter`). That tokenizer is a folder or a repo already in the user's Hugging Face cache; nothing
downloads, and the process's environment is left alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tuneline.analysis.local_tokens import TrainedCount
from tuneline.analysis.models import is_hub_id

from ..base import BackendError
from .data import tokenize_sft
from .examples import to_example
from .run_config import LocalConfig


def fed_counts(ids: list[int], labels: list[int], max_length: int) -> TrainedCount:
    """What truncation at max_length leaves of one row (SFTTrainer keeps the first max_length tokens)."""
    trained = [label != -100 for label in labels]
    kept = sum(trained[:max_length])
    # TRL then drops a row left fully masked by the cut ("Dropping fully masked examples"): the model sees none of it.
    return TrainedCount(
        full=len(ids),
        fed=min(len(ids), max_length) if kept else 0,
        trained=kept,
        cut_trained=sum(trained[max_length:]),
    )


class LocalTokenCounter:
    """An `ExampleCounter` (analysis/local_tokens.py) for one local model folder and run config."""

    trainer_findings = True  # a local run's cut and masking: TL205/TL206 apply

    def __init__(self, cfg: LocalConfig, tokenizer: Any) -> None:
        self.cfg = cfg
        self.tokenizer = tokenizer
        self.max_length = cfg.max_length
        self.name = Path(cfg.base_model or "local").name

    def count(self, obj: dict[str, Any]) -> TrainedCount | None:
        try:
            example = to_example(obj, 1)
        except BackendError:
            return None  # not trainable locally: the format findings say why
        if example.format == "preference":
            return None  # DPO rows are not labels; their length is checked at the pre-flight
        try:
            tokenized = tokenize_sft([example], self.tokenizer, self.cfg.assistant_only_loss)
        except BackendError:
            return None
        if tokenized.rows:
            row = tokenized.rows[0]
            return fed_counts(row["input_ids"], row["labels"], self.max_length)
        # Every answer has weight 0: `prepare` drops the example, so the model is fed none of it.
        return TrainedCount(full=tokenized.lengths[0], fed=0, trained=0, cut_trained=0)


def load_counter(model: str, cfg: LocalConfig | None = None) -> LocalTokenCounter:
    """The counter for a model folder (or a cached hub id), offline; a missing model raises one sentence."""
    from .loading import load_tokenizer

    cfg = (cfg or LocalConfig()).model_copy(update={"base_model": model})
    # Checking a file never downloads; the process's environment is left alone (a language server also starts
    # training runs, which may fetch a hub model).
    return LocalTokenCounter(cfg, load_tokenizer(cfg, local_files_only=True))


_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")


class TemplateLengthCounter:
    """An `ExampleCounter` for an open model at a hosted provider: the whole example through the model family's
    tokenizer and chat template (`fed` = `full`: no max_length cut here, the provider's limit judges it)."""

    trainer_findings = False

    def __init__(self, tokenizer: Any, name: str) -> None:
        self.tokenizer = tokenizer
        self.name = name
        self.max_length = 0  # no local cut

    def count(self, obj: dict[str, Any]) -> TrainedCount | None:
        try:
            example = to_example(obj, 1)
        except BackendError:
            return None  # a shape the trainer's reader refuses: the format findings say why
        if example.format == "preference":
            return None  # pairs are counted per side by the provider; the o200k_base estimate stands, marked
        try:
            tokenized = tokenize_sft([example], self.tokenizer, labels=False)
        except BackendError:
            return None  # no chat template in the tokenizer: chat lines stay estimates
        n = tokenized.lengths[0]
        return TrainedCount(full=n, fed=n, trained=n, cut_trained=0)


def tokenizer_folder(name: str, *, hub_only: bool = False) -> Path:
    """Where the tokenizer `name` is on this machine: a folder, or the cached snapshot of a Hugging Face repo id
    (never downloaded). `hub_only`: `name` comes from tuneline's model table, so only the user's own cache is looked
    at, never a folder of that name in the working directory. Raises a short reason the caller prefixes with
    `name`."""
    path = Path(name).expanduser()
    if not hub_only and path.is_dir():
        if not any((path / f).is_file() for f in _TOKENIZER_FILES):
            raise BackendError(f"the folder holds no tokenizer files ({', '.join(_TOKENIZER_FILES[:2])})")
        return path
    if not hub_only and path.exists():
        raise BackendError("not a folder (give the folder that holds tokenizer.json)")
    if not hub_only and name.startswith(("/", "./", "../", "~", ".\\", "..\\")):
        raise BackendError("no such folder")
    if not is_hub_id(name):
        raise BackendError("neither a folder nor a Hugging Face repo id (OWNER/NAME)")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(name, local_files_only=True))  # type: ignore[arg-type]
    except Exception:  # LocalEntryNotFoundError, or a cache folder that cannot be read
        raise BackendError(
            f"not in the Hugging Face cache; fetch it once with `hf download {name} --include 'tokenizer*' "
            "--include '*.json' --include '*.jinja'`"
        ) from None


def load_tokenizer_files(name: str, *, hub_only: bool = False) -> Any:
    """A tokenizer from a folder of tokenizer files (no model, no config.json needed) or a cached repo, offline and
    without running code from it (`trust_remote_code` off: a tokenizer that needs its own code does not load)."""
    folder = tokenizer_folder(name, hub_only=hub_only)  # first: a tokenizer not here costs no transformers import
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False)
    except Exception as exc:  # missing files, a broken tokenizer.json, a class that needs remote code
        text = str(exc).strip().splitlines()
        why = text[0] if text else type(exc).__name__
        raise BackendError(f"the tokenizer cannot be loaded ({why[:200]})") from None


def load_template_counter(name: str, *, hub_only: bool = False) -> TemplateLengthCounter:
    """The full-length counter of an open model at a hosted provider, with the tokenizer `name` (a folder or a
    cached repo id); one sentence when it is not on this machine or does not load."""
    return TemplateLengthCounter(load_tokenizer_files(name, hub_only=hub_only), name)
