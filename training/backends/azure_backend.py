"""Azure OpenAI / Microsoft Foundry fine-tuning, through the `openai` SDK's Azure client (`AzureOpenAI`).

The same API as OpenAI's, so this class reuses the OpenAI backend's upload, job and polling code and changes the
client, the sentences and what Azure does differently:

- the endpoint (`AZURE_OPENAI_ENDPOINT`, or `--base-url`) and key (`AZURE_OPENAI_API_KEY`, sent as `api-key`);
- the API version: by default the v1 API Microsoft recommends (`{endpoint}/openai/v1/...?api-version=v1`); a dated
  version (`--option api_version=2025-04-01-preview` or `AZURE_OPENAI_API_VERSION`) uses the older
  `{endpoint}/openai/...?api-version=` routes;
- files are processed before a job may use them, and must be under 512 MB (no Uploads API parts);
- RFT (o4-mini) with `--grader FILE`, a grader checked before anything is uploaded and sent with the job;
- `--option training_type=globalstandard|standard|developer` (Azure's `trainingType`);
- the result is a model name (`gpt-4.1-mini-2025-04-14.ft-...`) that still has to be deployed: tuneline shows it and
  says so, the deployment is left to the user; metrics come from the results file when the events carry none;
- no calendar (Azure keeps fine-tuning for existing customers) and no price: Azure's rates depend on region and
  training type, so pre-flight says the cost is unknown.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

from ..runs import RunRecord
from .base import BackendError, Plan, TrainRequest, Update
from .hosted import checked_url, clean, env_float, with_line
from .openai_backend import OpenAIBackend
from .provider_facts import fact, formats_for, provider_limit, source
from .registry import BACKENDS, KEY_ENV

ENDPOINT = BACKENDS["azure"].settings[0]
TRAINING_TYPES = ("standard", "globalstandard", "developer")
MAX_GRADER_BYTES = 1024 * 1024
_FILE_PENDING = ("uploaded", "pending", "running", "preprocessing")
_GRADER_FIELDS = {
    "string_check": ("name", "input", "reference", "operation"),
    "text_similarity": ("name", "input", "reference", "evaluation_metric"),
    "score_model": ("name", "model", "input"),
    "python": ("name", "source"),
    "multi": ("name", "graders", "calculate_output"),
}


class AzureBackend(OpenAIBackend):
    name = "azure"
    provider = "Azure OpenAI"
    key_env = (KEY_ENV["azure"],)
    calendar = None
    parts_upload = False
    key_page = "your resource's 'Keys and Endpoint' page in the Azure portal"
    permission_advice = "fine-tuning needs the Cognitive Services OpenAI Contributor role on the resource"
    closes_self_serve = False  # OpenAI's policy, not Azure's

    @property
    def formats(self) -> dict[str, str]:  # type: ignore[override]
        return formats_for("azure")

    @property
    def max_upload_bytes(self) -> int:  # type: ignore[override]
        return int(provider_limit("azure", "file_size_limit") or 512 * 1024**2)

    # --- the plan --------------------------------------------------------------------------------------------
    def endpoint(self, options: dict[str, Any] | None = None) -> str:
        opts = self._options if options is None else options
        given = opts.get("endpoint") or opts.get("base_url") or os.environ.get(ENDPOINT.env)
        if not given:
            raise BackendError(f"{ENDPOINT.env} is not set: put {ENDPOINT.help} there (or pass --base-url URL)")
        url = checked_url(given, "--base-url" if opts.get("base_url") else ENDPOINT.env)
        for tail in ("/openai/v1", "/openai"):  # people paste the API address instead of the resource's
            if url.endswith(tail):
                url = url[: -len(tail)]
        return url

    def api_version(self, options: dict[str, Any] | None = None) -> str:
        opts = self._options if options is None else options
        return str(
            opts.get("api_version") or os.environ.get("AZURE_OPENAI_API_VERSION") or fact("azure", "api_version")
        )

    def prepare(self, request: TrainRequest) -> Plan:
        opts = request.options
        # Fixed now, recorded in request.json: a recovered run talks to the same resource the same way.
        opts["endpoint"] = self.endpoint(opts)
        opts.pop("base_url", None)
        opts["api_version"] = self.api_version(opts)
        training_type = opts.get("training_type")
        if training_type is not None and training_type not in TRAINING_TYPES:
            raise BackendError(f"training_type must be one of {', '.join(TRAINING_TYPES)}, not {training_type!r}")
        if opts.get("grader") is not None:
            opts["grader"] = load_grader(opts["grader"])
        plan = super().prepare(request)
        if plan.method == "rft" and opts.get("grader") is None:
            raise BackendError(
                "this file is for reinforcement fine-tuning (its lines end on a user turn), which needs a grader: "
                "pass --grader FILE (a JSON grader config)"
            )
        if plan.method != "rft" and opts.get("grader") is not None:
            raise BackendError(
                f"--grader is for reinforcement fine-tuning files (lines ending on a user turn), and this file trains "
                f"with {plan.method.upper()}: drop --grader or use an RFT file"
            )
        if plan.method == "rft" and request.validation is None:
            plan.warnings.append(
                "Azure's reinforcement fine-tuning needs a validation file: pass --validation FILE or --split"
            )
        return plan

    tunes_models_of = ("openai",)  # Azure fine-tunes OpenAI's models under the same names

    def own_models(self) -> str:
        return "an Azure one"

    def who_decides(self) -> str:
        return "Azure will say whether it can be fine-tuned in your resource's region"

    def price_applies(self, info: Any) -> bool:
        return info.provider == "azure"

    def unknown_price_note(self, model: str) -> str:
        return (
            f"tuneline has no Azure price for {model}, so the cost is unknown: Azure bills training per token at "
            f"rates that depend on region and training type, plus hourly hosting once deployed "
            f"({fact('azure', 'pricing')})"
        )

    def format_refusal(self, title: str) -> str:
        return (
            f"Azure OpenAI fine-tunes chat (messages) files, or preference files for DPO, and this one is {title}: "
            "convert it to chat format first (the editor's quick fix converts alpaca and sharegpt lines)"
        )

    # --- SDK plumbing ----------------------------------------------------------------------------------------
    def make_client(self) -> Any:
        import openai

        version = self.api_version()
        common = {
            "api_key": self.key(),
            "api_version": version,
            "max_retries": 0,
            "timeout": env_float("TUNELINE_HTTP_TIMEOUT", 600.0),
        }
        if version in ("v1", "preview"):
            return openai.AzureOpenAI(base_url=f"{self.endpoint()}/openai/v1/", **common)
        return openai.AzureOpenAI(azure_endpoint=self.endpoint(), **common)

    def auth_sentence(self) -> str:
        return (
            f"Azure OpenAI rejected the key in {self.key_name()} for {self._options.get('endpoint')} (wrong key, "
            f"or a key of another resource); copy it again from {self.key_page}"
        )

    def not_found_sentence(self, msg: str, doing: str) -> str | None:
        return (
            f"Azure OpenAI answered 'not found' at {self._options.get('endpoint')} while {doing} ({msg}): check "
            f"{ENDPOINT.env} (https://NAME.openai.azure.com) and that fine-tuning is offered in the resource's region"
        )

    # --- upload and job --------------------------------------------------------------------------------------
    def uploaded(self, client: Any, obj: Any, path: Path, role: str) -> str:
        """Azure processes an upload before a job may use it: wait for that, and report a rejection here."""
        waited = 0.0
        interval = env_float("TUNELINE_POLL_INTERVAL", 15.0)
        while getattr(obj, "status", None) in _FILE_PENDING:
            if self.wait(interval) or waited > 3600:
                raise BackendError("stopped while Azure OpenAI was processing the file")
            waited += interval
            obj = self.call(f"checking the {role} file", client.files.retrieve, obj.id)
        if getattr(obj, "status", None) == "error":
            details = clean(getattr(obj, "status_details", None) or "no reason given")
            raise BackendError(f"Azure OpenAI rejected the {role} file: {with_line(details, path)}")
        return obj.id

    def method_spec(self, method: str, hp: dict[str, Any]) -> dict[str, Any]:
        if method == "rft":
            grader = self._options.get("grader")
            if not isinstance(grader, dict):
                raise BackendError("this RFT run has no grader in its request; start it again with --grader FILE")
            hp.pop("beta", None)
            return {"type": "reinforcement", "reinforcement": {"grader": grader, "hyperparameters": hp}}
        return super().method_spec(method, hp)

    def extra_job_fields(self) -> dict[str, Any]:
        training_type = self._options.get("training_type")
        return {"trainingType": training_type} if training_type else {}

    def finished(self, client: Any, job: Any, record: RunRecord, update: Update) -> None:
        if self._registry is not None and not any(True for _ in self._registry.read(record.id, "metrics")):
            update.metrics.extend(self._results_metrics(client, job))
        update.events.append(
            {
                "type": "status",
                "message": f"Azure trained {job.fine_tuned_model}; it is not deployed yet: deploy it in the Azure AI "
                "Foundry portal (Deployments) or with `az cognitiveservices account deployment create` before "
                "calling it",
            }
        )

    def _results_metrics(self, client: Any, job: Any) -> list[dict[str, Any]]:
        """Per-step metrics from the job's results.csv (Azure attaches one when a job ends)."""
        files = list(getattr(job, "result_files", None) or [])
        if not files:
            return []
        try:
            text = self.call("reading the results file", client.files.content, files[0]).text
        except BackendError:
            return []
        rows = []
        for row in csv.DictReader(io.StringIO(text[: 20 * 1024 * 1024])):
            step = _number(row.get("step"))
            if step is None:
                continue
            rows.append(
                {
                    "step": int(step),
                    "loss": _number(row.get("train_loss")),
                    "eval_loss": _number(row.get("valid_loss")) or _number(row.get("full_valid_loss")),
                    "train_mean_token_accuracy": _number(row.get("train_mean_token_accuracy")),
                    "learning_rate": None,
                    "epoch": None,
                    "tokens_per_second": None,
                    "gpu_memory_mb": None,
                    "remote_id": f"results:{int(step)}",
                }
            )
        return rows


def load_grader(value: object) -> dict[str, Any]:
    """An RFT grader from `--grader FILE` (or the object itself), checked before anything is uploaded: one
    sentence naming what is wrong."""
    if isinstance(value, dict):
        grader = value
        where = "the grader"
    else:
        path = Path(str(value)).expanduser()
        where = str(path)
        try:
            if path.stat().st_size > MAX_GRADER_BYTES:
                raise BackendError(f"{where} is larger than 1 MB; a grader config is a small JSON object")
            grader = json.loads(path.read_text(encoding="utf-8-sig"))
        except OSError as exc:
            raise BackendError(f"--grader {where}: cannot read it ({exc.strerror or exc})") from None
        except UnicodeDecodeError:
            raise BackendError(f"--grader {where} is not UTF-8 text") from None
        except ValueError as exc:
            raise BackendError(f"--grader {where} is not valid JSON ({exc})") from None
    check_grader(grader, where)
    return grader


def check_grader(grader: object, where: str) -> None:
    kinds = tuple(fact("azure", "rft_graders"))
    if not isinstance(grader, dict):
        raise BackendError(f"{where} must be a JSON object with a 'type' ({', '.join(kinds)})")
    kind = grader.get("type")
    if kind not in kinds:
        raise BackendError(
            f"{where} has grader type {kind!r}; use one of {', '.join(kinds)} ({source('azure', 'rft_graders')})"
        )
    missing = [f for f in _GRADER_FIELDS.get(str(kind), ()) if grader.get(f) in (None, "", [], {})]
    if missing:
        raise BackendError(f"{where}: a {kind} grader needs {', '.join(repr(m) for m in missing)}")
    if kind == "multi":
        subs = grader.get("graders")
        if not isinstance(subs, dict):
            raise BackendError(f"{where}: 'graders' of a multi grader maps names to graders")
        for name, sub in subs.items():
            check_grader(sub, f"{where} (grader {name!r})")


def _number(text: object) -> float | None:
    try:
        return float(str(text))
    except (TypeError, ValueError):
        return None


BACKEND = AzureBackend()
