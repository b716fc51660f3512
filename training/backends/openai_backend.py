"""OpenAI fine-tuning (the `openai` SDK, imported only inside the training child).

Upload through the Files API up to 512 MB, the Uploads API in 64 MB parts up to 8 GB; create a supervised or DPO
job tagged with `metadata` (so a job whose creation reply was lost can be found again); follow its status, events
and metrics; list checkpoints when it ends; cancel. Every SDK error becomes one sentence with the next step.

OpenAI stops taking new fine-tuning jobs on the date in `providers.toml` (`[providers.openai.new_jobs_end]`): from
then on a new run is refused before anything is uploaded, while runs already started are still followed and can be
cancelled; before it, pre-flight warns with the date. The Azure and OpenAI-compatible backends reuse this class
(the same API through another client and endpoint) without that calendar.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, ClassVar

from tuneline.analysis.models import DEFAULT_MODEL

from ..runs import RunRecord
from .base import BackendError, Plan, TrainRequest, Update
from .hosted import (
    OPENAI_ALTERNATIVES,
    OTHER_BACKENDS,
    HostedBackend,
    clean,
    env_float,
    today,
    with_line,
)
from .registry import KEY_ENV, key_variable

FILES_API_LIMIT = 512 * 1024**2
PART_SIZE = 64 * 1024**2
UPLOADS_LIMIT = 8 * 1024**3
TAG = {"created_by": "tuneline"}

STATUS = {
    "validating_files": "validating",
    "queued": "queued",
    "running": "running",
    "paused": "queued",
    "succeeded": "succeeded",
    "failed": "failed",
    "cancelled": "cancelled",
}
_SELF_SERVE = ("self-serve", "self serve", "fine-tuning is not available", "fine-tuning access", "not allowed to")


class OpenAIBackend(HostedBackend):
    name = "openai"
    provider = "OpenAI"
    extra = "openai"
    default_model = DEFAULT_MODEL
    key_env = (KEY_ENV["openai"],)
    formats: ClassVar[dict[str, str]] = {"chat": "sft", "openai-preference": "dpo"}
    max_upload_bytes = UPLOADS_LIMIT
    calendar: str | None = "openai"  # the providers.toml entry whose `new_jobs_end` stops new jobs
    parts_upload = True  # the Uploads API (64 MB parts) for files above the Files API's limit

    # --- the calendar ----------------------------------------------------------------------------------------
    def new_jobs_end(self) -> tuple[Any, str] | None:
        """(date, source) after which this provider takes no new jobs, from the provider data file."""
        if self.calendar is None:
            return None
        from tuneline.analysis.targets import shipped_providers

        rules = shipped_providers().get(self.calendar)
        fact = rules.new_jobs_end if rules is not None else None
        if fact is None or fact.value is None:
            return None
        return fact.value, fact.source

    def closed_sentence(self) -> str | None:
        """The refusal once no new jobs are taken, or None while they are."""
        end = self.new_jobs_end()
        if end is None or today() < end[0]:
            return None
        return (
            f"{self.provider} stopped taking new fine-tuning jobs on {end[0]:%Y-%m-%d} ({end[1]}), so this run was "
            f"not started and nothing was uploaded: train with {OPENAI_ALTERNATIVES} instead"
        )

    def prepare(self, request: TrainRequest) -> Plan:
        closed = self.closed_sentence()
        if closed:
            raise BackendError(closed)
        plan = super().prepare(request)
        end = self.new_jobs_end()
        if end is not None:
            plan.warnings.insert(
                0,
                f"{self.provider} takes no new fine-tuning jobs from {end[0]:%Y-%m-%d} ({end[1]}); runs started "
                f"before then go on, but plan the move to {OPENAI_ALTERNATIVES}",
            )
        return plan

    def before_start(self, record: RunRecord) -> None:
        if not (record.remote or {}).get("training_file_id"):  # nothing uploaded yet: refuse before the upload
            closed = self.closed_sentence()
            if closed:
                raise BackendError(closed)

    def format_refusal(self, title: str) -> str:
        return (
            f"OpenAI fine-tunes chat (messages) files, or preference files for DPO, and this one is {title}: "
            "convert it to chat format first (the editor's quick fix converts alpaca and sharegpt lines)"
        )

    # --- SDK plumbing ----------------------------------------------------------------------------------------
    sdk_module = "openai"

    def make_client(self) -> Any:
        import openai

        return openai.OpenAI(max_retries=0, timeout=env_float("TUNELINE_HTTP_TIMEOUT", 600.0))

    def transient(self, exc: BaseException) -> str | None:
        import openai

        if isinstance(exc, openai.RateLimitError) and _code(exc) == "insufficient_quota":
            return None  # no amount of waiting adds credit
        return super().transient(exc)

    # --- sentences (the shared ones are HostedBackend's; Azure and OpenAI-compatible endpoints change the
    # provider-specific ones) -----------------------------------------------------------------------------------
    key_page = "https://platform.openai.com/api-keys"
    permission_advice = "check the key's project permissions"
    untunable_advice = (
        "it is not fine-tunable, not enabled for this account or shut down: pick another with --model "
        "(`tuneline models` lists them)"
    )
    closes_self_serve = True  # OpenAI's own policy: a 403 on creating a job means self-serve fine-tuning is closed

    def key_name(self) -> str:
        return key_variable(self.name, self._options) or self.key_env[0]

    def auth_sentence(self) -> str:
        return (
            f"{self.provider} rejected the API key in {self.key_name()} (invalid, revoked or for another "
            f"organisation); create a new one at {self.key_page} and set it"
        )

    def permission_sentence(self, msg: str, doing: str) -> str:
        if self.closes_self_serve and (any(k in msg.lower() for k in _SELF_SERVE) or "creating the job" in doing):
            return (
                f"{self.provider} has closed self-serve fine-tuning to this organisation, so it cannot create jobs "
                f"({self.provider} said: {msg}); train with {OTHER_BACKENDS['openai']}"
            )
        return super().permission_sentence(msg, doing)

    def rate_limited(self, exc: BaseException, msg: str, doing: str) -> BackendError:
        if _code(exc) == "insufficient_quota":
            return BackendError(f"{self.provider} says this account has no quota left ({msg}); add credit, then retry")
        return super().rate_limited(exc, msg, doing)

    def about_model(self, exc: BaseException, msg: str, doing: str) -> bool:
        return _about_model(exc, msg, doing)

    def not_found_sentence(self, msg: str, doing: str) -> str | None:
        """A 404 that is not about the model: for endpoints configured by hand it means a wrong address."""
        return None

    def own_sentence(self, exc: BaseException, msg: str, doing: str) -> str | None:
        import openai

        if isinstance(exc, openai.NotFoundError):
            return self.not_found_sentence(msg, doing)
        if isinstance(exc, openai.BadRequestError):
            where = with_line(msg, self.upload_path(doing))
            if "upload" in doing:
                return f"{self.provider} rejected the file: {where}"
            return f"{self.provider} refused the request while {doing}: {where}"
        return None

    def status_detail(self, msg: str, doing: str) -> str:
        return f"{msg}; try again later (`{self.resume_command()}`)"

    # --- upload ----------------------------------------------------------------------------------------------
    def upload(self, client: Any, path: Path, role: str) -> str:
        size = path.stat().st_size
        doing = f"uploading the {role} file"
        if size > UPLOADS_LIMIT:
            raise BackendError(
                f"{path.name} is {size / 1024**3:.1f} GB and {self.provider} accepts at most 8 GB; split or sample "
                "it down"
            )
        if size <= FILES_API_LIMIT:

            def send() -> Any:
                with path.open("rb") as fh:
                    return client.files.create(file=(path.name, fh, "application/jsonl"), purpose="fine-tune")

            obj = self.call(doing, send)
            if getattr(obj, "status", None) == "error":
                raise BackendError(
                    f"{self.provider} rejected the {role} file: {with_line(clean(obj.status_details), path)}"
                )
            self.note(f"uploaded {path.name} as {obj.id}", "upload", file_id=obj.id)
            return self.uploaded(client, obj, path, role)
        if not self.parts_upload:
            raise BackendError(
                f"{path.name} is {size / 1024**2:,.0f} MB and {self.provider} takes at most "
                f"{FILES_API_LIMIT / 1024**2:,.0f} MB per file; split or sample it down"
            )
        return self._upload_in_parts(client, path, role, size)

    def uploaded(self, client: Any, obj: Any, path: Path, role: str) -> str:
        """The id of a file just uploaded, once the provider may use it (Azure processes files first)."""
        return obj.id

    def _upload_in_parts(self, client: Any, path: Path, role: str, size: int) -> str:
        doing = f"uploading the {role} file"
        upload = self.call(
            doing, client.uploads.create, bytes=size, filename=path.name, mime_type="text/jsonl", purpose="fine-tune"
        )
        total = -(-size // PART_SIZE)
        md5 = hashlib.md5(usedforsecurity=False)
        part_ids: list[str] = []
        with path.open("rb") as fh:
            for number in range(1, total + 1):
                chunk = fh.read(PART_SIZE)
                md5.update(chunk)
                part = self.call(
                    f"{doing} (part {number} of {total})", client.uploads.parts.create, upload.id, data=chunk
                )
                part_ids.append(part.id)
                self.note(f"uploaded part {number} of {total} of {path.name}", "upload", part=number, parts=total)
                if self.stop_requested():
                    self.call("cancelling the upload", client.uploads.cancel, upload.id)
                    raise BackendError("stopped during the upload")
        done = self.call(doing, client.uploads.complete, upload.id, part_ids=part_ids, md5=md5.hexdigest())
        file = getattr(done, "file", None)
        if file is None or getattr(file, "status", None) == "error":
            details = clean(getattr(file, "status_details", None) or "the upload did not produce a file")
            raise BackendError(f"{self.provider} rejected the {role} file: {with_line(details, path)}")
        self.note(f"uploaded {path.name} in {total} parts as {file.id}", "upload", file_id=file.id)
        return file.id

    # --- the job ---------------------------------------------------------------------------------------------
    def method_spec(self, method: str, hp: dict[str, Any]) -> dict[str, Any]:
        """The job's `method` field for tuneline's method name."""
        if method == "dpo":
            return {"type": "dpo", "dpo": {"hyperparameters": hp}}
        hp.pop("beta", None)
        return {"type": "supervised", "supervised": {"hyperparameters": hp}}

    def extra_job_fields(self) -> dict[str, Any]:
        """Provider-specific fields sent with the job (Azure's training type)."""
        return {}

    def create_job(self, client: Any, request: TrainRequest, record: RunRecord) -> str:
        closed = self.closed_sentence()
        if closed:
            raise BackendError(closed)
        method = (record.extra.get("method") or "sft").lower()
        hp: dict[str, Any] = {}
        for key in ("n_epochs", "batch_size", "learning_rate_multiplier", "beta"):
            value = record.hyperparameters.get(key, request.hyperparameters.get(key))
            if value is not None:
                hp[key] = value
        kwargs: dict[str, Any] = {
            "model": record.model,
            "training_file": record.remote["training_file_id"],
            "method": self.method_spec(method, hp),
            "metadata": {**TAG, "tuneline_run": record.id},
        }
        extra = self.extra_job_fields()
        if extra:
            kwargs["extra_body"] = extra
        if record.remote.get("validation_file_id"):
            kwargs["validation_file"] = record.remote["validation_file_id"]
        suffix = request.suffix or record.hyperparameters.get("suffix")
        if suffix:
            kwargs["suffix"] = suffix
        seed = request.seed if request.seed is not None else record.hyperparameters.get("seed")
        if seed is not None:
            kwargs["seed"] = seed

        def recheck() -> Any:
            job_id = self.find_job(client, record)
            return _Found(job_id) if job_id else None

        job = self.retrying("creating the job", lambda: client.fine_tuning.jobs.create(**kwargs), recheck)
        return job.id

    def find_job(self, client: Any, record: RunRecord) -> str | None:
        """The job tagged with this run (an endpoint that cannot filter by metadata is listed whole and each job
        matched by its tag or its training file)."""
        import openai

        try:
            page = client.fine_tuning.jobs.list(limit=20, metadata={"tuneline_run": record.id})
        except (openai.BadRequestError, openai.UnprocessableEntityError):
            page = client.fine_tuning.jobs.list(limit=50)
        training_file = (record.remote or {}).get("training_file_id")
        for job in page.data:
            if (getattr(job, "metadata", None) or {}).get("tuneline_run") == record.id:
                return job.id
        for job in page.data:
            if training_file and getattr(job, "training_file", None) == training_file:
                return job.id
        return None

    def snapshot(self, client: Any, record: RunRecord, seen: set[str]) -> Update:
        job_id = record.remote["job_id"]
        job = client.fine_tuning.jobs.retrieve(job_id)
        events = self.optional(lambda: client.fine_tuning.jobs.list_events(job_id, limit=100).data, [])
        update = Update(status=STATUS.get(job.status, record.status))
        epochs = _epochs(job)
        for event in sorted(events, key=lambda e: (e.created_at, e.id)):
            if event.id in seen:
                continue
            seen.add(event.id)
            data = event.data if isinstance(event.data, dict) else {}
            if event.type == "metrics" and data:
                update.metrics.append(_metrics(data, epochs, event.id))
            else:
                update.events.append(
                    {"type": "remote", "level": event.level, "message": clean(event.message), "remote_id": event.id}
                )
        if update.metrics:
            last = update.metrics[-1]
            update.progress = {k: last.get(k) for k in ("step", "total_steps", "epoch") if last.get(k) is not None}
        if job.trained_tokens:
            record.extra["trained_tokens"] = job.trained_tokens
        if job.status == "succeeded":
            update.result_model = job.fine_tuned_model
            record.extra["checkpoints"] = self.optional(lambda: self._checkpoints(client, job_id), [])
            record.extra["result_files"] = list(job.result_files or [])
            self.finished(client, job, record, update)
        elif job.status == "failed":
            err = job.error
            text = clean(getattr(err, "message", None) or "no reason given")
            code = getattr(err, "code", None)
            update.error = f"{self.provider}'s job failed: {with_line(text, self.upload_path(''))}" + (
                f" ({code})" if code else ""
            )
        elif job.status == "cancelled" and not self.stop_requested():
            update.error = f"the job was cancelled on {self.provider}'s side (from the dashboard or another tool)"
        return update

    def finished(self, client: Any, job: Any, record: RunRecord, update: Update) -> None:
        """Anything more to record once the job succeeded (Azure: metrics from its results file)."""

    @staticmethod
    def optional(fetch: Any, default: Any) -> Any:
        """`fetch()`, or `default` where the endpoint does not offer it (404: events or checkpoints on an
        OpenAI-compatible server that implements only jobs)."""
        import openai

        try:
            return fetch()
        except openai.NotFoundError:
            return default

    def _checkpoints(self, client: Any, job_id: str) -> list[dict[str, Any]]:
        page = client.fine_tuning.jobs.checkpoints.list(job_id, limit=10)
        out = []
        for cp in page.data:
            m = cp.metrics
            out.append(
                {
                    "id": cp.id,
                    "model": cp.fine_tuned_model_checkpoint,
                    "step": cp.step_number,
                    "train_loss": getattr(m, "train_loss", None),
                    "valid_loss": getattr(m, "valid_loss", None),
                    "full_valid_loss": getattr(m, "full_valid_loss", None),
                    "train_mean_token_accuracy": getattr(m, "train_mean_token_accuracy", None),
                }
            )
        return sorted(out, key=lambda c: c["step"])

    def cancel_job(self, client: Any, job_id: str) -> None:
        client.fine_tuning.jobs.cancel(job_id)


def _code(exc: BaseException) -> str | None:
    code = getattr(exc, "code", None)
    body = getattr(exc, "body", None)
    if code is None and isinstance(body, dict):
        code = body.get("code")
    return str(code) if code else None


def _about_model(exc: BaseException, msg: str, doing: str) -> bool:
    param = getattr(exc, "param", None)
    code = _code(exc) or ""
    return (
        param == "model"
        or "model" in code
        or ("creating the job" in doing and "model" in msg.lower() and "file" not in msg.lower())
    )


def _epochs(job: Any) -> int | None:
    method = getattr(job, "method", None)
    for holder in (getattr(method, "supervised", None), getattr(method, "dpo", None), job):
        hp = getattr(holder, "hyperparameters", None)
        n = getattr(hp, "n_epochs", None)
        if isinstance(n, int):
            return n
    return None


def _metrics(data: dict[str, Any], epochs: int | None, remote_id: str) -> dict[str, Any]:
    step = data.get("step")
    total = data.get("total_steps")
    epoch = round(step / total * epochs, 3) if step and total and epochs else None
    return {
        "step": step,
        "total_steps": total,
        "loss": data.get("train_loss"),
        "eval_loss": data.get("valid_loss", data.get("full_valid_loss")),
        "train_mean_token_accuracy": data.get("train_mean_token_accuracy"),
        "learning_rate": data.get("learning_rate"),
        "epoch": epoch,
        "tokens_per_second": None,
        "gpu_memory_mb": None,
        "remote_id": remote_id,
    }


class _Found:
    """A job found by `find_job` after a creation whose reply was lost."""

    def __init__(self, job_id: str) -> None:
        self.id = job_id


BACKEND = OpenAIBackend()
