"""What the hosted backends (OpenAI, Together, Fireworks, Azure, OpenAI-compatible) share: the start/poll/cancel flow, retries, and the plan.

A hosted run is: upload the file(s), create a job tagged as tuneline's, then poll the job and its events until it
ends. Remote ids are saved the moment they exist, so a worker that dies anywhere can be replaced by another that
picks up where it stopped (re-using uploaded files, finding a job whose creation reply was lost by its tag).

Retries are ours, not the SDKs' (clients are built with `max_retries=0`): rate limits wait as long as the
provider's `Retry-After` says, server errors and dropped connections back off exponentially, and each wait is
written to the run's events so the user sees why nothing moves.

Error sentences follow one template (`HostedBackend.translate`): the SDKs are generated with the same exception
classes, so a rate limit that outlasts the retries, an unreachable provider, a model it cannot tune and any other
error answer are said here in the same words for every provider. A backend states only what is its own: its
`auth_sentence`, its advice on a 403 (`permission_advice`) or an untunable model (`untunable_advice`), and
`own_sentence` for what only its SDK raises. tests/training/test_error_sentences.py pins every sentence.
"""

from __future__ import annotations

import datetime as dt
import importlib
import ipaddress
import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit

from ..redact import redact
from ..runs import REQUEST_FILE, TERMINAL, RunRecord, RunRegistry, read_small
from .base import Backend, BackendError, Plan, TrainRequest
from .registry import key_variable, required_env

T = TypeVar("T")

OPENAI_ALTERNATIVES = "--backend together|fireworks|azure|local"
OTHER_BACKENDS = {
    "openai": f"{OPENAI_ALTERNATIVES} (hosted LoRA on open models, Azure's own OpenAI models, or "
    "QLoRA on your own GPU)",
    "together": "--backend fireworks|local (hosted LoRA elsewhere, or QLoRA on your own GPU)",
    "fireworks": "--backend together|local (hosted LoRA elsewhere, or QLoRA on your own GPU)",
    "azure": "--backend together|fireworks|local",
    "openai-compatible": "--backend together|fireworks|local",
}


def today() -> dt.date:
    """The date calendars are checked against. `TUNELINE_TODAY` (YYYY-MM-DD) pins it, so tests (and anyone
    rehearsing a deadline) can see what tuneline does on a given day."""
    pinned = os.environ.get("TUNELINE_TODAY", "").strip()
    if pinned:
        try:
            return dt.date.fromisoformat(pinned)
        except ValueError:
            pass
    return dt.datetime.now(dt.timezone.utc).date()


def checked_url(url: object, what: str) -> str:
    """`url` if an API key may be sent there: https (plain http only to this machine, for local servers), no
    user name or password in it. Otherwise BackendError with one sentence naming `what` (the flag or variable)."""
    text = str(url or "").strip()
    parts = urlsplit(text)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise BackendError(f"{what} must be an http(s) address such as https://api.example.com/v1, not {text!r}")
    if parts.username or parts.password:
        raise BackendError(f"{what} must not carry a user name or password; keys go in their environment variable")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise BackendError(
            f"{what} uses plain http to {parts.hostname}, which would send the API key unencrypted; use https://"
        )
    return text.rstrip("/")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


def sdk_transient(exc: BaseException, sdk: Any) -> str | None:
    """'rate_limit' | 'server' | 'network' for an exception of `sdk` (openai or together: both SDKs are generated
    with the same exception classes) worth retrying; None otherwise."""
    if isinstance(exc, sdk.RateLimitError):
        return "rate_limit"
    if isinstance(exc, sdk.APIStatusError) and exc.status_code >= 500:
        return "server"
    if isinstance(exc, sdk.APIConnectionError):
        return "network"
    return None


class HostedBackend(Backend):
    provider = ""  # "OpenAI", "Together AI"
    extra = ""  # the pip extra that installs the SDK (tuneline[openai])
    sdk_module = ""  # the SDK the training child imports ("openai", "together", "fireworks")
    default_model = ""
    formats: ClassVar[dict[str, str]] = {}  # dataset format -> method ("sft" | "dpo")
    max_upload_bytes = 8 * 1024**3

    def __init__(self) -> None:
        self._record: RunRecord | None = None
        self._registry: RunRegistry | None = None
        self._options: dict[str, Any] = {}

    def bind(self, record: RunRecord, registry: RunRegistry, request: TrainRequest | None = None) -> None:
        """The run this backend works on now, and its request's options (endpoint, key variable, grader). Outside
        `start` they are read from the run's `request.json`, which the worker has checked is the approved one."""
        self._record, self._registry = record, registry
        if request is not None:
            self._options = dict(request.options or {})
            return
        try:
            data = json.loads(read_small(registry.folder(record.id) / REQUEST_FILE))
            options = data.get("options") if isinstance(data, dict) else None
        except (OSError, ValueError):
            options = None
        self._options = dict(options) if isinstance(options, dict) else {}

    # --- for subclasses --------------------------------------------------------------------------------------
    def make_client(self) -> Any:
        raise NotImplementedError

    def sdk(self) -> Any:
        return importlib.import_module(self.sdk_module)

    def transient(self, exc: BaseException) -> str | None:
        """'rate_limit' | 'server' | 'network' for failures worth retrying, None otherwise."""
        return sdk_transient(exc, self.sdk())

    def upload(self, client: Any, path: Path, role: str) -> str:
        raise NotImplementedError

    def create_job(self, client: Any, request: TrainRequest, record: RunRecord) -> str:
        raise NotImplementedError

    def find_job(self, client: Any, record: RunRecord) -> str | None:
        """A job already created for this run (its creation reply lost), found by tag or training file."""
        return None

    def snapshot(self, client: Any, record: RunRecord, seen: set[str]) -> Any:
        """One poll: the job's status, new events and metrics as an `Update`."""
        raise NotImplementedError

    def cancel_job(self, client: Any, job_id: str) -> None:
        raise NotImplementedError

    # --- the plan --------------------------------------------------------------------------------------------
    def prepare(self, request: TrainRequest) -> Plan:
        from ..preflight import analyze

        model = request.model or self.default_model
        epochs = request.hyperparameters.get("n_epochs")
        analysis = analyze(request.dataset, model, epochs if isinstance(epochs, int) else None)
        info = analysis.engine.model
        summary = analysis.summary
        warnings: list[str] = []
        self.check_model(model, info, warnings)
        method = self.formats.get(summary.format)
        if method is None and summary.examples:
            raise BackendError(self.format_refusal(summary.format_title))
        if request.validation is not None:
            vfmt = analyze(request.validation, model).summary.format
            if vfmt != summary.format:
                raise BackendError(
                    f"the validation file's format ({vfmt}) differs from the training file's ({summary.format}); "
                    "use the same format in both"
                )
        if analysis.size > self.max_upload_bytes:
            raise BackendError(
                f"the file is {analysis.size / 1024**3:.1f} GB and {self.provider} accepts at most "
                f"{self.max_upload_bytes / 1024**3:.0f} GB; split it into smaller files or sample it down"
            )
        if summary.over_limit:
            warnings.append(
                f"{summary.over_limit} example(s) exceed {info.name}'s limit of {info.limit:,} tokens and will be "
                "truncated (and billed up to the limit)"
            )
        priced = info.price is not None and self.price_applies(info)
        if not priced:
            warnings.append(self.unknown_price_note(info.name))
        return Plan(
            model=info.name if info.known else model,
            method=method or "sft",
            examples=summary.examples,
            tokens=summary.tokens_total,
            epochs=summary.cost.epochs,
            cost_usd=summary.cost.usd if priced else None,
            warnings=warnings,
        )

    def price_applies(self, info: Any) -> bool:
        """Whether the model table's price is what this backend bills (Azure serves OpenAI's models at its own
        prices, so OpenAI's row would be wrong there)."""
        return True

    tunes_models_of: ClassVar[tuple[str, ...]] = ()  # other providers in the model table whose models it tunes

    def check_model(self, model: str, info: Any, warnings: list[str]) -> None:
        if info.known and info.provider not in (self.name, "", *self.tunes_models_of) and not model.startswith("ft:"):
            raise BackendError(
                f"{model} is a {info.provider} model; use --backend {info.provider} or pick {self.own_models()}"
            )
        if info.is_shut_down():
            raise BackendError(
                f"{info.name} was shut down on {info.shutdown} and cannot be fine-tuned; choose another model "
                "(`tuneline models` lists them)"
            )
        if not info.known:
            warnings.append(
                f"{model} is not in tuneline's model table: token limit and price are guesses, and {self.who_decides()}"
            )

    def own_models(self) -> str:
        """This backend's models, as a refusal of another provider's model names them."""
        return f"a {self.name} model"

    def who_decides(self) -> str:
        """Who says whether a model tuneline does not know can be fine-tuned."""
        return f"{self.provider} will say whether it can be fine-tuned"

    def format_refusal(self, title: str) -> str:
        return f"{self.provider} cannot fine-tune a {title} file; convert it to chat (messages) format first"

    def unknown_price_note(self, model: str) -> str:
        return (
            f"no price is recorded for {model}, so the cost is unknown: add `price` (USD per 1M training tokens) "
            "for it under [models] in tuneline.toml"
        )

    # --- error sentences ---------------------------------------------------------------------------------------
    # What every hosted provider can answer is said here in the same words; a backend fills in its own parts.
    permission_advice = "check the key's permissions"  # before ", or train with --backend ..." on a 403
    rate_limit_aside = ""  # after "kept rate-limiting tuneline while ...": what else a 429 can mean there
    untunable_advice = "pick another with --model"  # after "{provider} cannot fine-tune {model} ({message}); "

    def translate(self, exc: BaseException, doing: str) -> BackendError:
        """One sentence with the next step for an exception raised while `doing` something. The SDKs are generated
        with the same exception classes, so one order of checks serves them all: a backend's own sentences come
        from `auth_sentence`, `permission_sentence`, `rate_limited`, `own_sentence` and `status_detail`."""
        sdk = self.sdk()
        msg = error_message(exc)
        who = self.provider
        if isinstance(exc, sdk.AuthenticationError):
            return BackendError(self.auth_sentence())
        if isinstance(exc, sdk.PermissionDeniedError):
            return BackendError(self.permission_sentence(msg, doing))
        if isinstance(exc, sdk.RateLimitError):
            return self.rate_limited(exc, msg, doing)
        if isinstance(exc, sdk.APIConnectionError):
            return BackendError(
                f"cannot reach {who} while {doing} (network down or blocked); check the connection, then run "
                f"`{self.resume_command()}`",
                retryable=True,
            )
        if isinstance(exc, (sdk.NotFoundError, sdk.BadRequestError)) and self.about_model(exc, msg, doing):
            model = self._record.model if self._record else "this model"
            return BackendError(f"{who} cannot fine-tune {model} ({msg}); {self.untunable_advice}")
        own = self.own_sentence(exc, msg, doing)
        if own is not None:
            return BackendError(own)
        if isinstance(exc, sdk.APIStatusError):
            return BackendError(
                f"{who} answered {exc.status_code} while {doing}: {self.status_detail(msg, doing)}",
                retryable=exc.status_code >= 500,
            )
        return BackendError(f"unexpected {type(exc).__name__} while {doing}: {clean(exc)}")

    def resume_command(self) -> str:
        return f"tuneline runs resume {self._record.id if self._record else 'RUN'}"

    def auth_sentence(self) -> str:
        """The provider refused the key: which variable holds it, and where a good one comes from."""
        raise NotImplementedError

    def permission_sentence(self, msg: str, doing: str) -> str:
        return (
            f"{self.provider} denied permission while {doing} ({msg}); {self.permission_advice}, or train with "
            f"{OTHER_BACKENDS[self.name]}"
        )

    def rate_limited(self, exc: BaseException, msg: str, doing: str) -> BackendError:
        """A rate limit that outlasted the retries: the run waits to be resumed."""
        return BackendError(
            f"{self.provider} kept rate-limiting tuneline while {doing}{self.rate_limit_aside}; wait a few minutes, "
            f"then run `{self.resume_command()}`",
            retryable=True,
        )

    def about_model(self, exc: BaseException, msg: str, doing: str) -> bool:
        """Whether a 400 or 404 says the model cannot be fine-tuned (rather than something about the request)."""
        return "model" in msg.lower()

    def own_sentence(self, exc: BaseException, msg: str, doing: str) -> str | None:
        """This provider's sentence for what the shared ones do not cover (a rejected file, an SDK's own check)."""
        return None

    def status_detail(self, msg: str, doing: str) -> str:
        """What follows "{provider} answered {status} while {doing}: " for any other error answer."""
        return with_line(msg, self.upload_path(doing))

    def upload_path(self, doing: str) -> Path | None:
        """The local file an answer about an upload refers to: the validation file while `doing` names it."""
        record = self._record
        if record is None:
            return None
        data = (record.validation if "validation" in doing and record.validation else record.dataset) or {}
        path = data.get("upload_path") or data.get("path")
        return Path(path) if path else None

    # --- the run ---------------------------------------------------------------------------------------------
    def note(self, message: str, kind: str = "message", **data: Any) -> None:
        if self._record is not None and self._registry is not None:
            self._registry.append(self._record.id, "events", {"type": kind, "message": redact(message), **data})

    def call(self, doing: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)` with retries for rate limits, server errors and dropped connections."""
        return self.retrying(doing, lambda: fn(*args, **kwargs))

    def retrying(self, doing: str, thunk: Callable[[], T], recheck: Callable[[], T | None] | None = None) -> T:
        """Run `thunk` with retries. For calls that create something, `recheck` looks for what a failed attempt
        may have created anyway (the reply was lost, not the request) before trying again."""
        attempts = max(1, int(env_float("TUNELINE_RETRY_ATTEMPTS", 6)))
        base = env_float("TUNELINE_RETRY_BASE", 1.0)
        for attempt in range(attempts):
            try:
                return thunk()
            except BackendError:
                raise
            except Exception as exc:
                kind = self.transient(exc)
                if kind is None or attempt == attempts - 1:
                    raise self.translate(exc, doing) from None
                if recheck is not None and kind in ("network", "server"):
                    try:
                        found = recheck()
                    except Exception:
                        found = None
                    if found:
                        self.note(f"found what {doing} made although its reply was lost", "status")
                        return found
                delay = min(base * 2**attempt, 60.0 * base)
                asked = retry_after(exc) if kind == "rate_limit" else None
                if asked is not None:
                    delay = asked
                why = {
                    "rate_limit": f"{self.provider} rate limit",
                    "server": f"{self.provider} server error",
                    "network": f"cannot reach {self.provider}",
                }[kind]
                self.note(
                    f"{why} while {doing}; retrying in {delay:.2f}s"
                    + (" (as the provider's Retry-After header asks)" if asked is not None else ""),
                    "warning",
                    retry_in=delay,
                )
                if self.wait(delay):
                    raise BackendError("stopped while waiting to retry") from None
        raise AssertionError("unreachable")

    def client(self) -> Any:
        missing = required_env(self.name, self._options, os.environ)
        if missing:
            raise BackendError(self.no_key_message(missing))
        try:
            return self.make_client()
        except ImportError as exc:
            raise BackendError(
                f"the {self.name} backend needs the `{exc.name}` package: pip install 'tuneline[{self.extra}]'"
            ) from None

    def key(self) -> str:
        """This run's API key, from the variable the registry (or `--api-key-env`) names."""
        return os.environ.get(key_variable(self.name, self._options) or "", "")

    def no_key_message(self, missing: list[tuple[str, str]]) -> str:
        name, help_ = missing[0]
        if name == key_variable(self.name, self._options):
            return f"{name} is not set: put your {self.provider} API key in that environment variable"
        return f"{name} is not set: put {help_} there"

    def start(self, request: TrainRequest, record: RunRecord, registry: RunRegistry) -> None:
        self.bind(record, registry, request)
        self.before_start(record)
        client = self.client()
        remote = dict(record.remote or {})
        record.status = "validating"
        registry.save(record)
        if not remote.get("training_file_id"):
            self.note(f"uploading {Path(request.dataset).name} ({_size(request.dataset)})", "upload")
            remote["training_file_id"] = self.upload(client, Path(request.dataset), "training")
            record.remote = {**remote, "job_id": remote.get("job_id"), "validation_file_id": None}
            registry.save(record)
        if request.validation is not None and not remote.get("validation_file_id"):
            self.note(f"uploading {Path(request.validation).name} ({_size(request.validation)})", "upload")
            remote["validation_file_id"] = self.upload(client, Path(request.validation), "validation")
        remote.setdefault("validation_file_id", None)
        record.remote = {**remote, "job_id": remote.get("job_id")}
        registry.save(record)
        if not record.remote.get("job_id"):
            job_id = self.call("looking for an existing job", self.find_job, client, record)
            if job_id:
                self.note(f"found job {job_id} created for this run earlier", "status")
            else:
                job_id = self.create_job(client, request, record)
                self.note(f"created {self.provider} job {job_id}", "status", job_id=job_id)
            record.remote["job_id"] = job_id
            registry.save(record)

    def before_start(self, record: RunRecord) -> None:
        """A last check before anything is uploaded or created (a provider's calendar); raise BackendError."""

    def poll(self, record: RunRecord, registry: RunRegistry) -> Iterator[Any]:
        self.bind(record, registry)
        client = self.client()
        remote = record.remote or {}
        if not remote.get("job_id"):
            job_id = self.call("looking for the run's job", self.find_job, client, record) if remote else None
            if not job_id:
                raise BackendError("this run never reached the point of creating a job; start a new run")
            record.remote = {**remote, "job_id": job_id}
            registry.save(record)
        seen = {str(e["remote_id"]) for e in registry.read(record.id, "events") if e.get("remote_id")}
        seen |= {str(m["remote_id"]) for m in registry.read(record.id, "metrics") if m.get("remote_id")}
        interval = env_float("TUNELINE_POLL_INTERVAL", 15.0)
        while True:
            update = self.call("checking the job", self.snapshot, client, record, seen)
            yield update
            if update.status in TERMINAL:
                return
            if self.wait(interval):
                return

    def cancel(self, record: RunRecord, registry: RunRegistry) -> None:
        self.bind(record, registry)
        job_id = (record.remote or {}).get("job_id")
        if not job_id:
            return  # nothing was created remotely; uploaded files stay in the account
        client = self.client()
        self.call("cancelling the job", self.cancel_job, client, job_id)

    def resume(self, record: RunRecord, registry: RunRegistry) -> None:
        """Hosted jobs run on the provider: resuming means following the job again (the worker then polls)."""
        if record.status in ("failed", "cancelled"):
            raise BackendError(
                f"this {self.provider} job is {record.status} and cannot be resumed; start a new run "
                "(`tuneline train ...`)"
            )


def retry_after(exc: BaseException) -> float | None:
    """Seconds the provider asked us to wait (Retry-After or retry-after-ms), if it said."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            continue
        if 0 <= seconds <= 600:
            return seconds
    return None


_LINE = re.compile(r"\b(?:line|example)\s+(\d+)", re.IGNORECASE)


def with_line(message: str, path: Path | None) -> str:
    """Add the local file position to a provider message that names a line or example ('Line 3 ...')."""
    m = _LINE.search(message or "")
    if m is None or path is None:
        return message
    return f"{message.rstrip('.')} (see {path}:{m.group(1)})"


def _size(path: Path) -> str:
    n = Path(path).stat().st_size
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"


def clean(text: object) -> str:
    """A provider's message on one line, without anything that looks like a key."""
    return redact(" ".join(str(text or "").split()))


def error_message(exc: BaseException) -> str:
    """The provider's own message in an SDK exception (the `error.message` of its JSON body), cleaned."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error") if isinstance(body.get("error"), dict) else body
        if isinstance(inner.get("message"), str):
            return clean(inner["message"])
    return clean(getattr(exc, "message", None) or exc)
