"""A local stand-in for the fine-tuning APIs of OpenAI, Together AI, Fireworks AI, Azure OpenAI and an
OpenAI-compatible endpoint, for tests that drive the real SDKs.

One HTTP server on 127.0.0.1 speaks the subset the SDKs use here:

- OpenAI under `/openai/v1`: files, uploads (+ parts, complete, cancel), fine_tuning/jobs (create, list with
  metadata filter, retrieve, cancel, events, checkpoints).
- Azure OpenAI under `/azure`: the same API as Azure serves it to `openai.AzureOpenAI` — the v1 routes
  (`/azure/openai/v1/...?api-version=v1|preview`) and the dated ones (`/azure/openai/...?api-version=2025-...`), the
  key in an `api-key` header, uploads `pending` until retrieved, a `results.csv` result file.
- An OpenAI-compatible endpoint under `/compat/v1` (its own key): the OpenAI routes, except that listing jobs by
  metadata is refused and checkpoints do not exist, as on servers that implement only part of the API.
- Fireworks AI under `/fireworks` (tests/training/fake_fireworks.py): accounts, datasets (create, upload, get),
  supervised fine-tuning and DPO jobs, metrics files.
- Together under `/together` (the SDK adds `/v1`): the files upload dance (POST -> 302 to a PUT URL -> preprocess),
  files retrieve, fine-tunes (models/limits, estimate-price, create, list, retrieve, cancel, events, metrics,
  checkpoints).

Jobs advance one stage per `retrieve`: validating -> queued -> running (metrics) -> succeeded | failed, or stay
running forever with `outcome="hang"`. Failures are injected per test: `server.state.inject(path_regex, status=...,
times=..., headers=..., body=..., drop=True)`, or over HTTP with `POST /_control/inject` (same fields as JSON),
`POST /_control/reset`, `POST /_control/configure` (`{"outcome": "failed"}`) and `GET /_control/state`.

Standalone, for editor end-to-end tests:

    python -m tests.training.fake_providers --port 8765 [--openai-key K] [--together-key K]

prints the base URLs (`OPENAI_BASE_URL=...`, `TOGETHER_BASE_URL=...`, `FIREWORKS_BASE_URL=...`,
`AZURE_OPENAI_ENDPOINT=...`, `TUNELINE_BASE_URL=...`) and serves until interrupted.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import default as email_policy
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .fake_http import FakeServer, JsonHandler

OPENAI_KEY = "sk-proj-tuneline-test-0123456789abcdefghijklmnopqrstuvwxyz"
TOGETHER_KEY = "tgp_v1_tuneline-test-0123456789abcdefghijklmnop"
FIREWORKS_KEY = "fw_tunelinetest0123456789abcdefghijklmn"
AZURE_KEY = "0123456789abcdef0123456789abcdef"  # Azure keys are 32 hex digits, no prefix
COMPAT_KEY = "compat-tuneline-test-0123456789abcdefghij"
AZURE_API_VERSIONS = {"v1", "preview", "2025-04-01-preview", "2024-10-21"}
SELF_SERVE_MESSAGE = (
    "Fine-tuning jobs can no longer be created by this organization: self-serve fine-tuning has been closed "
    "to organizations without recent fine-tuning usage. See https://platform.openai.com/docs/deprecations."
)
OPENAI_MODELS = {
    "gpt-4o-mini-2024-07-18",
    "gpt-4o-2024-08-06",
    "gpt-4.1-2025-04-14",
    "gpt-4.1-mini-2025-04-14",
    "o4-mini-2025-04-16",  # RFT
}
TOGETHER_MODELS = {"meta-llama/Meta-Llama-3.1-8B-Instruct-Reference", "Qwen/Qwen2.5-7B-Instruct"}


@dataclass
class Injection:
    pattern: str
    status: int | None = None
    times: int = 1
    method: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    drop: bool = False  # close the connection without answering (the request is not processed)
    drop_reply: bool = False  # process the request, then close without answering (the reply is lost)

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and re.search(self.pattern, path) is not None


@dataclass
class Job:
    id: str
    provider: str
    model: str
    training_file: str
    validation_file: str | None
    request: dict[str, Any]
    created_at: int
    stages: list[str]
    stage: int = 0
    status: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    outcome: str = "succeeded"


class State:
    """Everything the fake providers know; tests read and steer it directly (same process) or over HTTP."""

    def __init__(self, openai_key: str = OPENAI_KEY, together_key: str = TOGETHER_KEY) -> None:
        self.lock = threading.RLock()
        self.keys = {
            "openai": openai_key,
            "together": together_key,
            "fireworks": FIREWORKS_KEY,
            "azure": AZURE_KEY,
            "compat": COMPAT_KEY,
        }
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.files: dict[str, dict[str, Any]] = {}
            self.contents: dict[str, bytes] = {}
            self.uploads: dict[str, dict[str, Any]] = {}
            self.parts: dict[str, bytes] = {}
            self.jobs: dict[str, Job] = {}
            self.datasets: dict[str, dict[str, Any]] = {}  # Fireworks datasets by id
            self.injections: list[Injection] = []
            self.requests: list[dict[str, Any]] = []
            self.outcome = "succeeded"  # succeeded | failed | hang
            self.running_polls = 2
            self.total_steps = 6
            self.estimate: dict[str, Any] = {"estimation_available": True, "allowed_to_proceed": True}
            self.ids = itertools.count(1)

    def inject(self, pattern: str, **kwargs: Any) -> None:
        with self.lock:
            self.injections.append(Injection(pattern, **kwargs))

    def take_injection(self, method: str, path: str) -> Injection | None:
        with self.lock:
            for inj in self.injections:
                if inj.times > 0 and inj.matches(method, path):
                    inj.times -= 1
                    return inj
        return None

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self.ids):04d}{hashlib.sha1(str(time.time()).encode()).hexdigest()[:8]}"

    # --- jobs --------------------------------------------------------------------------------------------------
    def create_job(
        self,
        provider: str,
        model: str,
        training_file: str,
        validation: str | None,
        request: dict,
        job_id: str | None = None,
    ) -> Job:
        stages = ["validating", "queued", *["running"] * self.running_polls, "end"]
        prefix = "ftjob-" if provider == "openai" else "ft-"
        job_id = job_id or self.new_id(prefix)
        job = Job(job_id, provider, model, training_file, validation, request, int(time.time()), stages)
        job.outcome = self.outcome
        self._enter(job)
        self.jobs[job.id] = job
        return job

    def advance(self, job: Job) -> None:
        if job.status in (
            "succeeded",
            "failed",
            "cancelled",
            "completed",
            "error",
            "JOB_STATE_COMPLETED",
            "JOB_STATE_FAILED",
            "JOB_STATE_CANCELLED",
        ):
            return
        if job.stages[job.stage] == "running" and job.outcome == "hang":
            self._metric(job)
            return
        if job.stage < len(job.stages) - 1:
            job.stage += 1
        self._enter(job)

    def _enter(self, job: Job) -> None:
        stage = job.stages[job.stage]
        openai_names = {"validating": "validating_files", "queued": "queued", "running": "running"}
        together_names = {"validating": "pending", "queued": "queued", "running": "running"}
        fireworks_names = {
            "validating": "JOB_STATE_VALIDATING",
            "queued": "JOB_STATE_PENDING",
            "running": "JOB_STATE_RUNNING",
        }
        if stage == "end":
            ok = job.outcome != "failed"
            if job.provider == "openai":
                job.status = "succeeded" if ok else "failed"
            elif job.provider == "fireworks":
                job.status = "JOB_STATE_COMPLETED" if ok else "JOB_STATE_FAILED"
            else:
                job.status = "completed" if ok else "error"
            self._event(job, "Fine-tuning job successfully completed" if ok else "Training file has an error", ok)
            return
        names = {"openai": openai_names, "fireworks": fireworks_names}.get(job.provider, together_names)
        new = names[stage]
        if new != job.status:
            job.status = new
            self._event(job, f"Job entered stage {new}", True)
        if stage == "running":
            self._metric(job)

    def _event(self, job: Job, message: str, ok: bool) -> None:
        n = len(job.events) + 1
        if job.provider == "openai":
            job.events.append(
                {
                    "id": f"ftevent-{job.id}-{n}",
                    "object": "fine_tuning.job.event",
                    "created_at": int(time.time()),
                    "level": "info" if ok else "error",
                    "message": message,
                    "type": "message",
                }
            )
        else:
            job.events.append(
                {
                    "object": "fine-tune-event",
                    "created_at": f"2026-11-25T10:00:{n:02d}Z",
                    "message": message,
                    "type": "job_complete"
                    if ok and "completed" in message
                    else ("job_error" if not ok else "job_start"),
                    "level": "info" if ok else "error",
                }
            )

    def _metric(self, job: Job) -> None:
        step = min(len(job.metrics) + 1, self.total_steps)
        loss = round(2.0 / step, 4)
        job.metrics.append({"step": step, "train_loss": loss, "valid_loss": loss + 0.1})
        if job.provider == "openai" and not job.request.get("_azure"):
            job.events.append(
                {
                    "id": f"ftevent-{job.id}-m{step}-{len(job.metrics)}",
                    "object": "fine_tuning.job.event",
                    "created_at": int(time.time()),
                    "level": "info",
                    "message": f"Step {step}/{self.total_steps}: training loss={loss}",
                    "type": "metrics",
                    "data": {
                        "step": step,
                        "train_loss": loss,
                        "valid_loss": loss + 0.1,
                        "total_steps": self.total_steps,
                        "train_mean_token_accuracy": 0.5,
                    },
                }
            )


class Handler(JsonHandler):
    server_version = "fake-providers/1"

    # --- plumbing --------------------------------------------------------------------------------------------
    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _error(self, status: int, message: str, code: str | None = None, param: str | None = None, **kw) -> None:
        self._send(
            status,
            {"error": {"message": message, "type": "invalid_request_error", "code": code, "param": param}},
            **kw,
        )

    def _form(self, body: bytes) -> dict[str, Any]:
        ctype = self.headers.get("Content-Type", "")
        msg = BytesParser(policy=email_policy).parsebytes(b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
        out: dict[str, Any] = {}
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            filename = part.get_filename()
            out[name] = {"filename": filename, "data": payload} if filename else payload.decode()
        return out

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        path = url.path
        query = dict(parse_qsl(url.query))
        body = self._body()
        with self.state.lock:
            self.state.requests.append(
                {
                    "method": method,
                    "path": path,
                    "query": query,
                    "auth": self.headers.get("Authorization", ""),
                    "api_key": self.headers.get("api-key", ""),
                }
            )
        if path.startswith("/_control/"):
            return self._control(method, path, body)
        self._lose_reply = False
        inj = self.state.take_injection(method, path)
        if inj is not None and inj.drop_reply:
            self._lose_reply = True
            inj = None
        if inj is not None:
            if inj.drop:
                self.close_connection = True
                return
            payload = inj.body if inj.body is not None else {"error": {"message": f"injected {inj.status}"}}
            return self._send(inj.status or 500, payload, inj.headers)
        self._dialect = "openai"
        try:
            if path.startswith("/openai/v1/"):
                if not self._authorized("openai"):
                    return
                return self._openai(method, path[len("/openai/v1") :], query, body)
            if path.startswith("/azure/openai/"):
                self._dialect = "azure"
                return self._azure(method, path[len("/azure/openai") :], query, body)
            if path.startswith("/compat/v1/"):
                self._dialect = "compat"
                if not self._authorized("compat"):
                    return
                return self._openai(method, path[len("/compat/v1") :], query, body)
            if path.startswith("/fireworks/"):
                from .fake_fireworks import handle as fireworks

                return fireworks(self, method, path[len("/fireworks") :], query, body)
            if path.startswith("/together/put/"):
                return self._together_put(path.rsplit("/", 1)[1], body)
            if path.startswith("/together/v1/"):
                if not self._authorized("together"):
                    return
                return self._together(method, path[len("/together/v1") :], query, body)
        except BrokenPipeError:
            return
        self._error(404, f"no route for {method} {path}")

    def _azure(self, method: str, path: str, query: dict[str, str], body: bytes) -> None:
        """Azure's two URL shapes: /openai/v1/... (api-version v1 or preview, optional) and /openai/... (a dated
        api-version, required); the key in `api-key`."""
        version = query.get("api-version")
        if path.startswith("/v1/"):
            path = path[len("/v1") :]
            if version not in (None, "v1", "preview"):
                return self._error(400, f"api-version {version} is not valid for the v1 API; use v1 or preview")
        elif version not in AZURE_API_VERSIONS:
            return self._error(404, "Resource not found", "404")
        key = self.headers.get("api-key", "")
        if key != self.state.keys["azure"]:
            return self._error(
                401,
                "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key "
                "for an active subscription and use a correct regional API endpoint for your resource.",
                "401",
            )
        return self._openai(method, path, query, body)

    def _authorized(self, provider: str) -> bool:
        auth = self.headers.get("Authorization", "")
        key = auth.removeprefix("Bearer ").strip()
        if key == self.state.keys[provider]:
            return True
        masked = key[:8] + "*" * max(0, len(key) - 12) + key[-4:] if len(key) > 12 else "***"
        self._error(
            401, f"Incorrect API key provided: {masked}. You can find your API key in your settings.", "invalid_api_key"
        )
        return False

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # --- control -----------------------------------------------------------------------------------------------
    def _control(self, method: str, path: str, body: bytes) -> None:
        st = self.state
        data = json.loads(body or b"{}")
        if path == "/_control/reset":
            st.reset()
        elif path == "/_control/inject":
            st.inject(data.pop("pattern"), **data)
        elif path == "/_control/configure":
            with st.lock:
                for key in ("outcome", "running_polls", "total_steps", "estimate"):
                    if key in data:
                        setattr(st, key, data[key])
        with st.lock:
            snapshot = {
                "jobs": {j.id: {"status": j.status, "model": j.model, "request": j.request} for j in st.jobs.values()},
                "files": list(st.files),
                "requests": len(st.requests),
            }
        self._send(200, snapshot)

    # --- OpenAI --------------------------------------------------------------------------------------------------
    def _openai(self, method: str, path: str, query: dict[str, str], body: bytes) -> None:
        st = self.state
        with st.lock:
            if method == "POST" and path == "/files":
                form = self._form(body)
                upload = form.get("file") or {}
                return self._openai_file(upload.get("filename") or "file.jsonl", upload.get("data") or b"")
            m = re.fullmatch(r"/files/([^/]+)", path)
            if method == "GET" and m:
                f = st.files.get(m.group(1))
                if f and f["status"] == "pending":
                    f = {**f, "status": "processed"}
                    st.files[f["id"]] = f
                    return self._send(200, {**f, "status": "running"})
                return self._send(200, f) if f else self._error(404, "No such File object")
            m = re.fullmatch(r"/files/([^/]+)/content", path)
            if method == "GET" and m:
                data = st.contents.get(m.group(1))
                return self._send_bytes(200, data, "text/csv") if data is not None else self._error(404, "No such File")
            if method == "POST" and path == "/uploads":
                req = json.loads(body)
                up = {
                    "id": st.new_id("upload_"),
                    "object": "upload",
                    "bytes": req["bytes"],
                    "created_at": int(time.time()),
                    "expires_at": int(time.time()) + 3600,
                    "filename": req["filename"],
                    "purpose": req["purpose"],
                    "status": "pending",
                    "file": None,
                }
                st.uploads[up["id"]] = up
                return self._send(200, up)
            m = re.fullmatch(r"/uploads/([^/]+)/(parts|complete|cancel)", path)
            if method == "POST" and m:
                up = st.uploads.get(m.group(1))
                if up is None:
                    return self._error(404, "No such Upload")
                if m.group(2) == "parts":
                    form = self._form(body)
                    data = form["data"]["data"] if isinstance(form.get("data"), dict) else (form.get("data") or b"")
                    part = {"id": st.new_id("part_"), "object": "upload.part", "created_at": 0, "upload_id": up["id"]}
                    st.parts[part["id"]] = data if isinstance(data, bytes) else data.encode()
                    return self._send(200, part)
                if m.group(2) == "cancel":
                    up["status"] = "cancelled"
                    return self._send(200, up)
                req = json.loads(body)
                content = b"".join(st.parts[p] for p in req["part_ids"])
                if len(content) != up["bytes"]:
                    return self._error(400, f"Upload has {len(content)} bytes, {up['bytes']} were declared")
                if req.get("md5") and hashlib.md5(content).hexdigest() != req["md5"]:
                    return self._error(400, "md5 checksum mismatch")
                ok, file = self._store_openai_file(up["filename"], content)
                if not ok:
                    return self._error(400, file, "invalid_file", "file")
                up.update(status="completed", file=file)
                return self._send(200, up)
            if path == "/fine_tuning/jobs" and method == "POST":
                return self._openai_create(json.loads(body))
            if path == "/fine_tuning/jobs" and method == "GET":
                wanted = {k[len("metadata[") : -1]: v for k, v in query.items() if k.startswith("metadata[")}
                if wanted and self._dialect == "compat":
                    return self._error(400, "Unrecognized request argument supplied: metadata")
                jobs = [
                    self._openai_job(j)
                    for j in st.jobs.values()
                    if j.provider == "openai"
                    and all((j.request.get("metadata") or {}).get(k) == v for k, v in wanted.items())
                ]
                return self._send(200, {"object": "list", "data": jobs[::-1], "has_more": False})
            m = re.fullmatch(r"/fine_tuning/jobs/([^/]+)(?:/(cancel|events|checkpoints))?", path)
            if m:
                job = st.jobs.get(m.group(1))
                if job is None or job.provider != "openai":
                    return self._error(404, f"Could not find fine-tune job {m.group(1)}", "fine_tune_not_found")
                action = m.group(2)
                if action is None:
                    st.advance(job)
                    return self._send(200, self._openai_job(job))
                if action == "cancel":
                    if job.status in ("succeeded", "failed", "cancelled"):
                        return self._error(400, f"Job {job.id} has already {job.status}")
                    job.status = "cancelled"
                    st._event(job, "Fine-tuning job cancelled", True)
                    return self._send(200, self._openai_job(job))
                if action == "events":
                    limit = int(query.get("limit", 20))
                    return self._send(200, {"object": "list", "data": job.events[::-1][:limit], "has_more": False})
                if self._dialect == "compat":
                    return self._error(404, "Not Found")
                if job.status != "succeeded":
                    return self._send(200, {"object": "list", "data": [], "has_more": False})
                cps = [
                    {
                        "id": f"ftckpt-{job.id}-{n}",
                        "object": "fine_tuning.job.checkpoint",
                        "created_at": int(time.time()),
                        "fine_tuned_model_checkpoint": f"ft:{job.model}:tuneline::{job.id[-6:]}:ckpt-step-{n * 2}",
                        "fine_tuning_job_id": job.id,
                        "step_number": n * 2,
                        "metrics": {"step": n * 2, "train_loss": 1.0 / n, "valid_loss": 1.1 / n},
                    }
                    for n in (3, 2, 1)
                ]
                return self._send(200, {"object": "list", "data": cps, "has_more": False})
        self._error(404, f"no route for {method} /v1{path}")

    def _result_file(self, job: Job) -> str:
        """A results.csv for a finished Azure job (a row per step), stored once; OpenAI's jobs name one only."""
        if not job.request.get("_azure"):
            return "file-result-1"
        file_id = f"file-result-{job.id[-8:]}"
        st = self.state
        if file_id not in st.contents:
            rows = ["step,train_loss,train_mean_token_accuracy,valid_loss,validation_mean_token_accuracy"]
            rows += [f"{m['step']},{m['train_loss']},0.5,{m['valid_loss']},0.5" for m in job.metrics]
            st.contents[file_id] = ("\n".join(rows) + "\n").encode()
            st.files[file_id] = {
                "id": file_id,
                "object": "file",
                "bytes": len(st.contents[file_id]),
                "created_at": int(time.time()),
                "filename": "results.csv",
                "purpose": "fine-tune-results",
                "status": "processed",
            }
        return file_id

    def _send_bytes(self, status: int, data: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _store_openai_file(self, filename: str, content: bytes) -> tuple[bool, Any]:
        for n, line in enumerate(content.decode("utf-8", "replace").splitlines(), 1):
            try:
                obj = json.loads(line)
            except ValueError:
                return False, f"Invalid file format. Line {n} is not valid JSON."
            if not isinstance(obj, dict):
                return False, f"Invalid file format. Line {n} is not a dictionary."
        st = self.state
        f = {
            "id": st.new_id("file-"),
            "object": "file",
            "bytes": len(content),
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": "fine-tune",
            "status": "pending" if getattr(self, "_dialect", "openai") == "azure" else "processed",
        }
        st.files[f["id"]] = f
        st.contents[f["id"]] = content
        return True, f

    def _openai_file(self, filename: str, content: bytes) -> None:
        ok, file = self._store_openai_file(filename, content)
        if not ok:
            return self._error(400, file, "invalid_file", "file")
        self._send(200, file)

    def _openai_create(self, req: dict[str, Any]) -> None:
        st = self.state
        model = req.get("model")
        if model not in OPENAI_MODELS:
            return self._error(
                400,
                f"Model {model} is not available for fine-tuning or does not exist.",
                "model_not_available",
                "model",
            )
        if req.get("training_file") not in st.files:
            return self._error(400, f"invalid training_file: {req.get('training_file')}", None, "training_file")
        if self._dialect == "azure":
            req["_azure"] = True
        job = st.create_job("openai", model, req["training_file"], req.get("validation_file"), req)
        self._send(200, self._openai_job(job))

    def _openai_job(self, job: Job) -> dict[str, Any]:
        method = job.request.get("method") or {"type": "supervised", "supervised": {"hyperparameters": {}}}
        kind = method.get("type", "supervised")
        hp = dict((method.get(kind) or {}).get("hyperparameters") or {})
        hp.setdefault("n_epochs", 3)
        done = job.status == "succeeded"
        return {
            "id": job.id,
            "object": "fine_tuning.job",
            "created_at": job.created_at,
            "model": job.model,
            "organization_id": "org-tuneline-test",
            "status": job.status,
            "training_file": job.training_file,
            "validation_file": job.validation_file,
            "hyperparameters": hp,
            "method": {"type": kind, kind: {"hyperparameters": hp}},
            "metadata": job.request.get("metadata"),
            "seed": job.request.get("seed", 42),
            "suffix": job.request.get("suffix"),
            "result_files": [self._result_file(job)] if done else [],
            "trained_tokens": 12345 if done else None,
            "fine_tuned_model": f"ft:{job.model}:tuneline::{job.id[-6:]}" if done else None,
            "finished_at": int(time.time()) if job.status in ("succeeded", "failed", "cancelled") else None,
            "error": (
                {
                    "code": "invalid_training_file",
                    "message": "The job failed due to an invalid training file. Line 3: an assistant message is empty.",
                    "param": "training_file",
                }
                if job.status == "failed"
                else None
            ),
        }

    # --- Together ----------------------------------------------------------------------------------------------
    def _together_put(self, file_id: str, body: bytes) -> None:
        with self.state.lock:
            f = self.state.files.get(file_id)
            if f is None:
                return self._error(404, "unknown upload")
            self.state.contents[file_id] = body
            f["bytes"] = len(body)
        self._send(200, {})

    def _together(self, method: str, path: str, query: dict[str, str], body: bytes) -> None:
        st = self.state
        with st.lock:
            if method == "POST" and path == "/files":
                form = self._form(body)
                file_id = st.new_id("file-")
                st.files[file_id] = {
                    "id": file_id,
                    "object": "file",
                    "bytes": 0,
                    "created_at": int(time.time()),
                    "filename": form.get("file_name", "data.jsonl"),
                    "FileType": form.get("file_type", "jsonl"),
                    "purpose": form.get("purpose", "fine-tune"),
                    "processing_status": "COMPLETED",
                }
                port = self.server.server_address[1]
                location = f"http://127.0.0.1:{port}/together/put/{file_id}"
                return self._send(302, None, {"Location": location, "X-Together-File-Id": file_id})
            m = re.fullmatch(r"/files/([^/]+)(/preprocess)?", path)
            if m:
                f = st.files.get(m.group(1))
                return self._send(200, f) if f else self._error(404, "file not found")
            if method == "GET" and path == "/fine-tunes/models/limits":
                name = query.get("model_name")
                if name not in TOGETHER_MODELS:
                    return self._error(404, f"Model {name} is not supported for fine-tuning")
                return self._send(200, _limits(name))
            if method == "POST" and path == "/fine-tunes/estimate-price":
                return self._send(200, {"estimated_total_price": 1.25, **st.estimate})
            if path == "/fine-tunes" and method == "POST":
                req = json.loads(body)
                if req.get("model") not in TOGETHER_MODELS:
                    return self._error(400, f"model {req.get('model')} is not available for fine-tuning")
                if req.get("training_file") not in st.files:
                    return self._error(400, "training_file not found")
                job = st.create_job("together", req["model"], req["training_file"], req.get("validation_file"), req)
                return self._send(200, self._together_job(job))
            if path == "/fine-tunes" and method == "GET":
                jobs = [self._together_job(j) for j in st.jobs.values() if j.provider == "together"]
                return self._send(200, {"data": jobs})
            m = re.fullmatch(r"/fine-tunes/([^/]+)(?:/(cancel|events|metrics|checkpoints))?", path)
            if m:
                job = st.jobs.get(m.group(1))
                if job is None or job.provider != "together":
                    return self._error(404, "fine-tune job not found")
                action = m.group(2)
                if action is None:
                    st.advance(job)
                    return self._send(200, self._together_job(job))
                if action == "cancel":
                    job.status = "cancelled"
                    return self._send(200, self._together_job(job))
                if action == "events":
                    return self._send(200, {"data": job.events})
                if action == "metrics":
                    start = int(query.get("global_step_from", 0))
                    rows = [
                        {"global_step": m_["step"], "train_loss": m_["train_loss"], "eval_loss": m_["valid_loss"]}
                        for m_ in job.metrics
                        if m_["step"] >= start
                    ]
                    return self._send(200, {"metrics": rows})
                cps = (
                    [
                        {
                            "checkpoint_type": "Final",
                            "created_at": "2026-11-25T10:00:00Z",
                            "path": f"{job.id}/final",
                            "step": st.total_steps,
                        }
                    ]
                    if job.status == "completed"
                    else []
                )
                return self._send(200, {"data": cps})
        self._error(404, f"no route for {method} {path}")

    def _together_job(self, job: Job) -> dict[str, Any]:
        now = "2026-11-25T10:00:00Z"
        return {
            "id": job.id,
            "created_at": now,
            "updated_at": now,
            "status": job.status,
            "user_id": "user-test",
            "model": job.model,
            "training_file": job.training_file,
            "validation_file": job.validation_file,
            "n_epochs": job.request.get("n_epochs"),
            "model_output_name": f"tuneline-test/{job.model.split('/')[-1]}-{job.id[-6:]}"
            if job.status == "completed"
            else None,
        }


def _limits(name: str) -> dict[str, Any]:
    return {
        "model_name": name,
        "default_gradient_accumulation_steps": 1,
        "lora_training": {
            "default_rank": 8,
            "max_batch_size": 32,
            "max_batch_size_dpo": 16,
            "max_rank": 64,
            "min_batch_size": 8,
            "target_modules": ["q_proj", "v_proj"],
        },
        "max_learning_rate": 1.0,
        "max_num_checkpoints": 10,
        "max_num_epochs": 20,
        "max_num_evals": 10,
        "max_seq_length_dpo": 8192,
        "max_seq_length_sft": 8192,
        "merge_output_lora": False,
        "min_learning_rate": 0.0,
        "min_max_seq_length": 512,
        "supports_full_training": False,
        "supports_reasoning": False,
        "supports_tools": True,
        "supports_vision": False,
    }


class FakeProviders(FakeServer):
    """The server in a background thread: `with FakeProviders() as fp: fp.env` gives the SDKs' settings."""

    handler = Handler

    def __init__(self, port: int = 0, openai_key: str = OPENAI_KEY, together_key: str = TOGETHER_KEY) -> None:
        super().__init__(State(openai_key, together_key), port)

    @property
    def openai_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/openai/v1"

    @property
    def together_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/together"

    @property
    def fireworks_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/fireworks"

    @property
    def azure_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/azure"

    @property
    def compat_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/compat/v1"

    @property
    def env(self) -> dict[str, str]:
        return {
            "OPENAI_BASE_URL": self.openai_url,
            "OPENAI_API_KEY": self.state.keys["openai"],
            "TOGETHER_BASE_URL": self.together_url,
            "TOGETHER_API_KEY": self.state.keys["together"],
            "FIREWORKS_BASE_URL": self.fireworks_url,
            "FIREWORKS_API_KEY": self.state.keys["fireworks"],
            "AZURE_OPENAI_ENDPOINT": self.azure_endpoint,
            "AZURE_OPENAI_API_KEY": self.state.keys["azure"],
            "TUNELINE_API_KEY": self.state.keys["compat"],
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--openai-key", default=OPENAI_KEY)
    parser.add_argument("--together-key", default=TOGETHER_KEY)
    parser.add_argument("--outcome", choices=["succeeded", "failed", "hang"], default="succeeded")
    args = parser.parse_args(argv)
    fp = FakeProviders(args.port, args.openai_key, args.together_key)
    fp.state.outcome = args.outcome
    print(f"OPENAI_BASE_URL={fp.openai_url}", flush=True)
    print(f"TOGETHER_BASE_URL={fp.together_url}", flush=True)
    print(f"FIREWORKS_BASE_URL={fp.fireworks_url}", flush=True)
    print(f"AZURE_OPENAI_ENDPOINT={fp.azure_endpoint}", flush=True)
    print(f"TUNELINE_BASE_URL={fp.compat_url}", flush=True)
    try:
        fp.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        fp.httpd.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
