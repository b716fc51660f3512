"""Together AI fine-tuning of open models with LoRA (the `together` SDK, imported only inside the training child).

The hosted path for users OpenAI no longer serves. Same flow as OpenAI: upload (SDK 3.x only parses each line;
Together validates the content on its servers after the upload, and `tuneline check --target together:...` applies
the content rules Together's SDK used to check before 2.15), ask Together for its price estimate and stop if it says the account cannot pay, create the job,
follow status, events and metrics, record the output model name, cancel.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, ClassVar

from ..runs import RunRecord
from .base import BackendError, TrainRequest, Update
from .hosted import HostedBackend, clean, env_float, with_line
from .registry import KEY_ENV

DEFAULT_MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
MAX_BYTES = 50 * 1024**3

STATUS = {
    "pending": "queued",
    "queued": "queued",
    "running": "running",
    "compressing": "running",
    "uploading": "running",
    "cancel_requested": "running",
    "cancelled": "cancelled",
    "error": "failed",
    "completed": "succeeded",
}
_FILE_PENDING = ("PENDING", "QUEUED", "RUNNING")
_FILE_BAD = ("FAILED", "INVALID_FORMAT")


class TogetherBackend(HostedBackend):
    name = "together"
    provider = "Together AI"
    extra = "together"
    default_model = DEFAULT_MODEL
    key_env = (KEY_ENV["together"],)
    formats: ClassVar[dict[str, str]] = {
        "chat": "sft",
        "prompt-completion": "sft",
        "text": "sft",
        "openai-preference": "dpo",
    }
    max_upload_bytes = MAX_BYTES

    def format_refusal(self, title: str) -> str:
        return (
            f"Together AI trains on chat, prompt/completion, text or preference files, and this one is {title}: "
            "convert it to chat format first (the editor's quick fix converts alpaca and sharegpt lines)"
        )

    def unknown_price_note(self, model: str) -> str:
        return (
            f"tuneline has no price for {model}: Together AI's own estimate is recorded after the upload, and the "
            "run stops there if Together says the account cannot cover it (add `price` under [models] in "
            "tuneline.toml to see a cost here)"
        )

    # --- SDK plumbing ----------------------------------------------------------------------------------------
    sdk_module = "together"

    def make_client(self) -> Any:
        import together

        return together.Together(max_retries=0, timeout=env_float("TUNELINE_HTTP_TIMEOUT", 600.0))

    # --- sentences (the shared ones are HostedBackend's) ------------------------------------------------------
    permission_advice = "check the key's project"
    untunable_advice = "pick a model from Together's fine-tuning list with --model"

    def auth_sentence(self) -> str:
        return (
            "Together AI rejected the API key in TOGETHER_API_KEY (or the account is out of credit); check the key "
            "and billing at https://api.together.ai/settings"
        )

    def own_sentence(self, exc: BaseException, msg: str, doing: str) -> str | None:
        from together.lib import FileTypeError

        if isinstance(exc, FileTypeError):
            return f"Together AI's own file check rejected the file: {msg}"
        if isinstance(exc, ValueError):  # the SDK checks job settings against the model's limits itself
            return f"Together AI's SDK refused the job settings: {msg}"
        return None

    # --- upload ----------------------------------------------------------------------------------------------
    def upload(self, client: Any, path: Path, role: str) -> str:
        doing = f"uploading the {role} file"
        obj = self.call(doing, client.files.upload, file=path, purpose="fine-tune", check=True)
        file_id = obj.id
        self.note(f"uploaded {path.name} as {file_id}", "upload", file_id=file_id)
        waited = 0.0
        interval = env_float("TUNELINE_POLL_INTERVAL", 15.0)
        while getattr(obj, "processing_status", None) in _FILE_PENDING:
            if waited == 0.0:
                self.note(f"Together AI is validating {path.name}", "status")
            if self.wait(interval) or waited > 3600:
                raise BackendError("stopped while Together AI was validating the file")
            waited += interval
            obj = self.call(doing, client.files.retrieve, file_id)
        if getattr(obj, "processing_status", None) in _FILE_BAD:
            report = getattr(obj, "validation_report", None)
            detail = clean(getattr(report, "error", None) or obj.processing_status)
            raise BackendError(f"Together AI rejected the {role} file: {with_line(detail, path)}")
        return file_id

    # --- the job ---------------------------------------------------------------------------------------------
    def _job_args(self, request: TrainRequest, record: RunRecord) -> dict[str, Any]:
        hp = {**request.hyperparameters, **record.hyperparameters}
        method = (record.extra.get("method") or "sft").lower()
        validation = record.remote.get("validation_file_id") or ""
        args: dict[str, Any] = {
            "training_file": record.remote["training_file_id"],
            "model": record.model,
            "n_epochs": int(hp.get("n_epochs") or 1),
            "validation_file": validation,
            "n_evals": int(hp.get("n_evals") or (1 if validation else 0)),
            "batch_size": hp.get("batch_size") or "max",
            "learning_rate": float(hp.get("learning_rate") or 1e-5),
            "lora": True,
            "training_method": method,
        }
        if method == "sft":
            args["train_on_inputs"] = "auto"
        for key in ("lora_r", "lora_alpha", "lora_dropout", "warmup_ratio", "max_seq_length"):
            if hp.get(key) is not None:
                args[key] = hp[key]
        suffix = request.suffix or hp.get("suffix")
        if suffix:
            args["suffix"] = suffix
        seed = request.seed if request.seed is not None else hp.get("seed")
        if seed is not None:
            args["random_seed"] = int(seed)
        return args

    def create_job(self, client: Any, request: TrainRequest, record: RunRecord) -> str:
        args = self._job_args(request, record)
        method: dict[str, Any] = {"method": args["training_method"]}
        if args["training_method"] == "sft":
            method["train_on_inputs"] = "auto"
        estimate = self.call(
            "asking Together AI for its price estimate",
            client.fine_tuning.estimate_price,
            training_file=args["training_file"],
            model=args["model"],
            n_epochs=args["n_epochs"],
            n_evals=args["n_evals"],
            training_method=method,
            **({"validation_file": args["validation_file"]} if args["validation_file"] else {}),
        )
        if getattr(estimate, "estimation_available", False):
            price = getattr(estimate, "estimated_total_price", None)
            if price is not None:
                record.extra["provider_estimate_usd"] = price
                self.note(f"Together AI estimates this job at ${price:,.2f}", "cost", usd=price)
            if getattr(estimate, "allowed_to_proceed", True) is False:
                raise BackendError(
                    f"Together AI estimates ${price or 0:,.2f} and says the account cannot cover it; add credit at "
                    "https://api.together.ai/settings/billing, then start the run again"
                )

        def recheck() -> Any:
            job_id = self.find_job(client, record)
            return _Found(job_id) if job_id else None

        job = self.retrying("creating the job", lambda: client.fine_tuning.create(**args), recheck)
        return job.id

    def find_job(self, client: Any, record: RunRecord) -> str | None:
        training_file = (record.remote or {}).get("training_file_id")
        if not training_file:
            return None
        for job in client.fine_tuning.list().data or []:
            if getattr(job, "training_file", None) == training_file:
                return job.id
        return None

    def snapshot(self, client: Any, record: RunRecord, seen: set[str]) -> Update:
        job_id = record.remote["job_id"]
        job = client.fine_tuning.retrieve(job_id)
        update = Update(status=STATUS.get(str(job.status), record.status))
        events = client.fine_tuning.list_events(job_id).data or []
        last_error = None
        for event in events:
            key = _event_key(event)
            if key in seen:
                continue
            seen.add(key)
            level = getattr(event, "level", None) or "info"
            update.events.append({"type": "remote", "level": level, "message": clean(event.message), "remote_id": key})
            if getattr(event, "step", None) and getattr(event, "total_steps", None):
                update.progress = {"step": event.step, "total_steps": event.total_steps}
            if str(event.type) == "job_error" or level == "error":
                last_error = clean(event.message)
        last_step = max((int(k.split(":")[1]) for k in seen if k.startswith("step:")), default=-1)
        metrics = client.fine_tuning.list_metrics(job_id, global_step_from=last_step + 1).metrics or []
        for row in metrics:
            m = _metrics(row)
            if m["step"] is None or f"step:{m['step']}" in seen:
                continue
            seen.add(f"step:{m['step']}")
            m["remote_id"] = f"step:{m['step']}"
            update.metrics.append(m)
        if update.metrics:
            last = update.metrics[-1]
            progress = dict(update.progress or {})
            progress["step"] = last["step"]
            if last.get("epoch") is not None:
                progress["epoch"] = last["epoch"]
            update.progress = progress
        if job.status == "completed":
            update.result_model = getattr(job, "x_model_output_name", None)
            record.extra["checkpoints"] = self._checkpoints(client, job_id)
        elif job.status == "error":
            update.error = f"Together AI's job failed: {last_error or 'no reason given'}"
        elif job.status == "cancelled" and not self.stop_requested():
            update.error = "the job was cancelled on Together AI's side (from the dashboard or another tool)"
        return update

    def _checkpoints(self, client: Any, job_id: str) -> list[dict[str, Any]]:
        data = client.fine_tuning.list_checkpoints(job_id).data or []
        out = [{"step": c.step, "type": c.checkpoint_type, "path": c.path, "name": c.object_name} for c in data]
        return sorted(out, key=lambda c: c["step"])

    def cancel_job(self, client: Any, job_id: str) -> None:
        client.fine_tuning.cancel(job_id)


def _event_key(event: Any) -> str:
    raw = f"{event.created_at}|{event.type}|{event.message}"
    return "ev:" + hashlib.sha1(raw.encode(), usedforsecurity=False).hexdigest()[:16]


def _metrics(row: dict[str, Any]) -> dict[str, Any]:
    step = row.get("global_step", row.get("step"))
    return {
        "step": int(step) if step is not None else None,
        "loss": row.get("train_loss", row.get("loss")),
        "eval_loss": row.get("eval_loss", row.get("valid_loss")),
        "learning_rate": row.get("learning_rate", row.get("lr")),
        "epoch": row.get("epoch"),
        "tokens_per_second": row.get("tokens_per_second"),
        "gpu_memory_mb": None,
    }


class _Found:
    """A job found by `find_job` after a creation whose reply was lost."""

    def __init__(self, job_id: str) -> None:
        self.id = job_id


BACKEND = TogetherBackend()
