"""Fireworks AI fine-tuning of open models with LoRA (the `fireworks-ai` SDK, imported only in the training child).

The flow Fireworks documents: create a dataset record, upload the file (one request up to 150 MB, signed URLs
above, through the SDK's own `fireworks.lib.dataset_upload`), wait until the dataset is READY, create a supervised
fine-tuning job (chat files) or a DPO job (preference files), poll its state, progress and metrics file, record
Fireworks' own cost estimate and the output model's name, cancel.

Dataset and job ids are chosen by tuneline from the run id, so a worker that died after a create whose reply was
lost finds the dataset or job again by its id instead of making a second one. Every id names the account
(`FIREWORKS_ACCOUNT_ID`, or the only account the key can reach).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from ..runs import RunRecord
from .base import BackendError, Plan, TrainRequest, Update
from .hosted import HostedBackend, checked_url, clean, env_float, with_line
from .provider_facts import fact, formats_for
from .registry import BACKENDS, KEY_ENV

ACCOUNT_ENV = "FIREWORKS_ACCOUNT_ID"
MAX_METRICS_BYTES = 20 * 1024 * 1024

STATE = {
    "JOB_STATE_CREATING": "validating",
    "JOB_STATE_VALIDATING": "validating",
    "JOB_STATE_CREATING_INPUT_DATASET": "validating",
    "JOB_STATE_PENDING": "queued",
    "JOB_STATE_RE_QUEUEING": "queued",
    "JOB_STATE_IDLE": "queued",
    "JOB_STATE_PAUSED": "queued",
    "JOB_STATE_RUNNING": "running",
    "JOB_STATE_WRITING_RESULTS": "running",
    "JOB_STATE_CANCELLING": "running",
    "JOB_STATE_COMPLETED": "succeeded",
    "JOB_STATE_EARLY_STOPPED": "succeeded",
    "JOB_STATE_FAILED": "failed",
    "JOB_STATE_EXPIRED": "failed",
    "JOB_STATE_CANCELLED": "cancelled",
}


class FireworksBackend(HostedBackend):
    name = "fireworks"
    provider = "Fireworks AI"
    extra = "fireworks"
    key_env = (KEY_ENV["fireworks"],)

    @property
    def default_model(self) -> str:  # type: ignore[override]
        return str(fact("fireworks", "default_model"))

    @property
    def formats(self) -> dict[str, str]:  # type: ignore[override]
        return formats_for("fireworks")

    # --- the plan --------------------------------------------------------------------------------------------
    def prepare(self, request: TrainRequest) -> Plan:
        prefix = str(fact("fireworks", "base_model_prefix"))
        model = request.model or self.default_model
        if "/" not in model:  # `--model llama-v3p1-8b-instruct` means Fireworks' library model of that id
            model = prefix + model
        request.model = model
        if not isinstance(request.hyperparameters.get("n_epochs"), int):
            request.hyperparameters["n_epochs"] = int(fact("fireworks", "epochs_default"))
        account = request.options.get("account_id") or os.environ.get(ACCOUNT_ENV)
        if account:
            if not isinstance(account, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", account):
                raise BackendError(
                    f"the Fireworks account id must be lowercase letters, digits and '-', not {account!r}"
                )
            request.options["account_id"] = account
        return super().prepare(request)

    def check_model(self, model: str, info: Any, warnings: list[str]) -> None:
        if info.known and info.provider not in (self.name, ""):
            raise BackendError(
                f"{model} is a {info.provider} model; use --backend {info.provider} or pick a Fireworks one"
            )
        if not info.known:
            warnings.append(
                f"{model} is not in tuneline's model table: token limit and price are guesses, and Fireworks AI will "
                "say whether it can be tuned (`firectl model get` shows 'Tunable: true')"
            )

    def unknown_price_note(self, model: str) -> str:
        return (
            f"tuneline has no price for {model}, so the cost is unknown: Fireworks AI's own estimate is recorded "
            f"once the job exists ({fact('fireworks', 'pricing')}; add `price` under [models] in tuneline.toml to "
            "see one here)"
        )

    def format_refusal(self, title: str) -> str:
        return (
            f"Fireworks AI trains on chat (messages) files, or preference files for DPO, and this one is {title}: "
            "convert it to chat format first (the editor's quick fix converts alpaca and sharegpt lines)"
        )

    # --- SDK plumbing ----------------------------------------------------------------------------------------
    sdk_module = "fireworks"

    def make_client(self) -> Any:
        import fireworks

        base_url = os.environ.get("FIREWORKS_BASE_URL")
        return fireworks.Fireworks(
            api_key=self.key(),
            account_id=self._options.get("account_id")
            or (self._record.extra.get("account_id") if self._record else None),
            base_url=checked_url(base_url, "FIREWORKS_BASE_URL") if base_url else None,
            max_retries=0,
            timeout=env_float("TUNELINE_HTTP_TIMEOUT", 600.0),
        )

    # --- sentences (the shared ones are HostedBackend's) ------------------------------------------------------
    permission_advice = f"check that the key belongs to the account in {ACCOUNT_ENV}"
    rate_limit_aside = " (or the account reached its spend limit)"
    untunable_advice = "pick a tunable model from https://fireworks.ai/models with --model"

    def auth_sentence(self) -> str:
        return (
            f"Fireworks AI rejected the API key in {KEY_ENV['fireworks']} (invalid or revoked); "
            f"{BACKENDS['fireworks'].key_help} and set it"
        )

    def own_sentence(self, exc: BaseException, msg: str, doing: str) -> str | None:
        import fireworks

        if isinstance(exc, (fireworks.BadRequestError, fireworks.UnprocessableEntityError)) and "upload" in doing:
            return f"Fireworks AI rejected the file: {with_line(msg, self.upload_path(doing))}"
        if isinstance(exc, ValueError) and "account_id" in str(exc):
            return f"{ACCOUNT_ENV} is not set: put the Fireworks account id to train in there"
        if isinstance(exc, ValueError):  # the SDK's upload helper refuses paths and encrypted datasets itself
            return f"Fireworks AI's upload helper refused the file: {clean(exc)}"
        return None

    # --- ids -------------------------------------------------------------------------------------------------
    def account(self, client: Any) -> str:
        """The account every id lives in: the request's, the environment's, or the only one the key reaches."""
        record = self._record
        known = self._options.get("account_id") or (record.extra.get("account_id") if record else None)
        if not known:
            page = self.call("looking up the Fireworks account", client.accounts.list)
            names = [a.name.rsplit("/", 1)[-1] for a in (page.accounts or []) if getattr(a, "name", None)]
            if len(names) != 1:
                raise BackendError(
                    f"the key in {KEY_ENV['fireworks']} reaches {len(names)} Fireworks accounts: set {ACCOUNT_ENV} to "
                    "the one to train in"
                )
            known = names[0]
        if record is not None and record.extra.get("account_id") != known:
            record.extra["account_id"] = known
            if self._registry is not None:
                self._registry.save(record)
        client.account_id = known
        return known

    def _stem(self) -> str:
        """A Fireworks id part from the run id (lowercase letters, digits and '-', at most 63 characters)."""
        run = self._record.id if self._record else "run"
        return "tl-" + re.sub(r"[^a-z0-9-]", "-", run.lower())[:50]

    def job_id(self) -> str:
        return self._stem()

    # --- upload ----------------------------------------------------------------------------------------------
    def upload(self, client: Any, path: Path, role: str) -> str:
        import fireworks

        account = self.account(client)
        dataset_id = f"{self._stem()}-{role[:5]}"
        name = f"accounts/{account}/datasets/{dataset_id}"
        doing = f"uploading the {role} file"

        def existing() -> Any:
            try:
                return client.datasets.get(dataset_id)
            except fireworks.NotFoundError:
                return None

        found = self.call(doing, existing)
        if found is not None and getattr(found, "state", None) == "READY":
            self.note(f"re-using dataset {name}, uploaded for this run earlier", "upload", file_id=name)
            return name
        if found is None:
            examples = sum(1 for line in path.read_bytes().splitlines() if line.strip())

            def create() -> Any:
                try:
                    return client.datasets.create(
                        dataset_id=dataset_id, dataset={"user_uploaded": {}, "example_count": str(examples)}
                    )
                except fireworks.ConflictError:  # made by an attempt whose reply was lost
                    return existing()

            self.retrying(doing, create, recheck=existing)
        if path.stat().st_size < int(fact("fireworks", "single_upload_limit")):

            def send() -> Any:
                with path.open("rb") as fh:
                    return client.datasets.upload(dataset_id, file=(path.name, fh, "application/jsonl"))

            self.call(doing, send)
        else:
            from fireworks.lib.dataset_upload import upload_dataset_shards

            self.call(doing, upload_dataset_shards, client, dataset_id, str(path))
        self.note(f"uploaded {path.name} as {name}", "upload", file_id=name)
        self._wait_ready(client, dataset_id, path, role)
        return name

    def _wait_ready(self, client: Any, dataset_id: str, path: Path, role: str) -> None:
        waited = 0.0
        interval = env_float("TUNELINE_POLL_INTERVAL", 15.0)
        while True:
            ds = self.call(f"checking the {role} file", client.datasets.get, dataset_id)
            status = getattr(ds, "status", None)
            code = getattr(status, "code", None)
            if code not in (None, "OK"):
                detail = clean(getattr(status, "message", None) or code)
                raise BackendError(f"Fireworks AI rejected the {role} file: {with_line(detail, path)}")
            if getattr(ds, "state", None) == "READY":
                return
            if self.wait(interval) or waited > 3600:
                raise BackendError("stopped while Fireworks AI was processing the file")
            waited += interval

    # --- the job ---------------------------------------------------------------------------------------------
    def _jobs(self, client: Any, record: RunRecord) -> Any:
        dpo = (record.extra.get("method") or "sft") == "dpo"
        return client.dpo_jobs if dpo else client.supervised_fine_tuning_jobs

    def create_job(self, client: Any, request: TrainRequest, record: RunRecord) -> str:
        import fireworks

        self.account(client)
        job_id = self.job_id()
        hp = {**request.hyperparameters, **record.hyperparameters}
        opts = self._options
        config: dict[str, Any] = {"base_model": record.model, "epochs": int(hp.get("n_epochs") or 1)}
        if hp.get("learning_rate") is not None:
            config["learning_rate"] = float(hp["learning_rate"])
        if hp.get("batch_size") is not None:
            config["batch_size_samples"] = int(hp["batch_size"])
        for key in ("lora_rank", "max_context_length", "learning_rate_warmup_steps", "gradient_accumulation_steps"):
            if opts.get(key) is not None:
                config[key] = int(opts[key])
        suffix = request.suffix or hp.get("suffix")
        if suffix:
            config["output_model"] = re.sub(r"[^a-z0-9-]", "-", str(suffix).lower()).strip("-")[:40] + "-" + job_id[-6:]
        display = f"tuneline {record.id}"
        jobs = self._jobs(client, record)

        def create() -> Any:
            try:
                if jobs is client.dpo_jobs:
                    return jobs.create(
                        dpo_job_id=job_id,
                        dataset=record.remote["training_file_id"],
                        display_name=display,
                        training_config=config,
                    )
                return jobs.create(
                    supervised_fine_tuning_job_id=job_id,
                    dataset=record.remote["training_file_id"],
                    display_name=display,
                    **config,
                    **(
                        {"evaluation_dataset": record.remote["validation_file_id"]}
                        if record.remote.get("validation_file_id")
                        else {}
                    ),
                )
            except fireworks.ConflictError:  # the job exists: an earlier attempt's reply was lost
                return _Found(job_id)

        def recheck() -> Any:
            return _Found(job_id) if self.find_job(client, record) else None

        self.retrying("creating the job", create, recheck)
        return job_id

    def find_job(self, client: Any, record: RunRecord) -> str | None:
        import fireworks

        if not (record.remote or {}).get("training_file_id"):
            return None
        self.account(client)
        try:
            self._jobs(client, record).get(self.job_id())
        except fireworks.NotFoundError:
            return None
        return self.job_id()

    def snapshot(self, client: Any, record: RunRecord, seen: set[str]) -> Update:
        account = self.account(client)
        job_id = record.remote["job_id"]
        jobs = self._jobs(client, record)
        job = jobs.get(job_id)
        state = str(getattr(job, "state", "") or "")
        update = Update(status=STATE.get(state, record.status))
        key = f"state:{state}"
        if state and key not in seen:
            seen.add(key)
            update.events.append({"type": "remote", "level": "info", "message": f"job {state}", "remote_id": key})
        progress = getattr(job, "job_progress", None)
        if progress is not None and getattr(progress, "percent", None) is not None:
            update.progress = {"percent": progress.percent, "epoch": getattr(progress, "epoch", None)}
        cost = _usd(getattr(job, "estimated_cost", None))
        if cost is not None and record.extra.get("provider_estimate_usd") != cost:
            record.extra["provider_estimate_usd"] = cost
            update.events.append(
                {"type": "cost", "message": f"Fireworks AI estimates this job at ${cost:,.2f}", "usd": cost}
            )
        if update.status in ("running", "succeeded", "failed", "cancelled"):
            for row in self._metrics(client, job, jobs, job_id):
                mark = f"step:{row['step']}"
                if mark not in seen:
                    seen.add(mark)
                    row["remote_id"] = mark
                    update.metrics.append(row)
        if update.metrics:
            last = update.metrics[-1]
            update.progress = {**(update.progress or {}), "step": last["step"]}
            if last.get("epoch") is not None:
                update.progress["epoch"] = last["epoch"]
        if update.status == "succeeded":
            update.result_model = getattr(job, "output_model", None) or f"accounts/{account}/models/{job_id}"
            update.events.append(
                {
                    "type": "status",
                    "message": f"Fireworks AI trained {update.result_model}; deploy it (the Fireworks dashboard's "
                    "Models page, or `firectl create deployment`) before calling it",
                }
            )
        elif update.status == "failed":
            status = getattr(job, "status", None)
            text = clean(getattr(status, "message", None) or state or "no reason given")
            update.error = f"Fireworks AI's job failed: {with_line(text, self.upload_path(''))}"
        elif update.status == "cancelled" and not self.stop_requested():
            update.error = "the job was cancelled on Fireworks AI's side (from the dashboard or another tool)"
        return update

    def _metrics(self, client: Any, job: Any, jobs: Any, job_id: str) -> list[dict[str, Any]]:
        """Rows of the job's metrics file (a signed URL, fetched without credentials). Its format is not
        documented: JSON lines with a step and loss values are read, anything else is skipped."""
        url = getattr(job, "metrics_file_signed_url", None)
        if not url and hasattr(jobs, "get_metrics_file_endpoint"):
            try:
                url = jobs.get_metrics_file_endpoint(job_id).signed_url
            except Exception:
                url = None
        if not url:
            return []
        import httpx

        try:
            with httpx.Client(timeout=env_float("TUNELINE_HTTP_TIMEOUT", 600.0)) as http:
                response = http.get(url)
            if response.status_code != 200:
                return []
            text = response.content[:MAX_METRICS_BYTES].decode("utf-8", "replace")
        except httpx.HTTPError:
            return []
        rows = []
        for line in text.splitlines():
            try:
                data = json.loads(line)
            except ValueError:
                continue
            if isinstance(data, dict):
                row = _metric_row(data)
                if row is not None:
                    rows.append(row)
        return sorted(rows, key=lambda r: r["step"])

    def cancel_job(self, client: Any, job_id: str) -> None:
        self.account(client)
        record = self._record
        assert record is not None
        self._jobs(client, record).cancel(job_id, body={})


def _usd(money: Any) -> float | None:
    if money is None or (getattr(money, "currency_code", None) or "USD") != "USD":
        return None
    try:
        return round(int(getattr(money, "units", None) or 0) + int(getattr(money, "nanos", None) or 0) / 1e9, 4)
    except (TypeError, ValueError):
        return None


def _pick(data: dict[str, Any], *names: str) -> float | None:
    for name in names:
        value = data.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def _metric_row(data: dict[str, Any]) -> dict[str, Any] | None:
    step = _pick(data, "step", "global_step", "train/global_step", "train/step")
    if step is None:
        return None
    return {
        "step": int(step),
        "loss": _pick(data, "train/loss", "train_loss", "loss"),
        "eval_loss": _pick(data, "eval/loss", "eval_loss", "valid_loss"),
        "learning_rate": _pick(data, "train/learning_rate", "learning_rate", "lr"),
        "epoch": _pick(data, "train/epoch", "epoch"),
        "tokens_per_second": _pick(data, "tokens_per_second"),
        "gpu_memory_mb": None,
    }


class _Found:
    """A job that exists already (found by its id after a create whose reply was lost)."""

    def __init__(self, job_id: str) -> None:
        self.id = job_id


BACKEND = FireworksBackend()
