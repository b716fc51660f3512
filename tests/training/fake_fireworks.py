"""Fireworks AI's fine-tuning REST API as the `fireworks-ai` SDK calls it, served by tests/training/fake_providers.py
under `/fireworks` (the SDK's `FIREWORKS_BASE_URL`).

Routes (all under `/v1/accounts/{account}` except the account list): datasets (create with a client-chosen id,
`:upload` as multipart, get: UPLOADING -> READY one read after the upload), supervisedFineTuningJobs and dpoJobs
(create with a client-chosen id, get: advances one stage per read like the other fakes, `:cancel`,
`:getMetricsFileEndpoint`), and `/fireworks/metrics/{job}`: the metrics file a signed URL points at (JSON lines),
served without credentials as a signed URL would be. Errors have Fireworks' shape (`{"code", "message"}`); 401
for a wrong key, 403 for another account, 409 for an id that exists.
"""

from __future__ import annotations

import json
import re
from typing import Any

ACCOUNT = "tuneline-test"
FIREWORKS_MODELS = {"accounts/fireworks/models/llama-v3p1-8b-instruct", "accounts/fireworks/models/qwen3-8b"}
PREFIX = f"/v1/accounts/{ACCOUNT}"


def _error(h: Any, status: int, message: str, code: int = 3) -> None:
    h._send(status, {"code": code, "message": message, "details": []})


def handle(h: Any, method: str, path: str, query: dict[str, str], body: bytes) -> None:
    st = h.state
    m = re.fullmatch(r"/metrics/([^/]+)", path)
    if method == "GET" and m:  # a signed URL: no Fireworks key
        job = st.jobs.get(m.group(1))
        rows = (
            [{"step": r["step"], "train/loss": r["train_loss"], "eval/loss": r["valid_loss"]} for r in job.metrics]
            if job
            else []
        )
        return h._send_bytes(200, "".join(json.dumps(r) + "\n" for r in rows).encode(), "application/jsonl")
    key = h.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if key != st.keys["fireworks"]:
        return _error(h, 401, "unauthenticated: the API key is invalid", 16)
    if method == "GET" and path == "/v1/accounts":
        return h._send(
            200, {"accounts": [{"name": f"accounts/{ACCOUNT}", "email": "test@example.com", "state": "READY"}]}
        )
    m = re.fullmatch(r"/v1/accounts/([^/]+)(/.*)", path)
    if m is None:
        return _error(h, 404, f"no route for {method} {path}", 5)
    if m.group(1) != ACCOUNT:
        return _error(h, 403, f"permission denied on account {m.group(1)}", 7)
    rest = m.group(2)
    with st.lock:
        if rest == "/datasets" and method == "POST":
            return _create_dataset(h, json.loads(body or b"{}"))
        m = re.fullmatch(r"/datasets/([^/:]+)(?::(upload))?", rest)
        if m:
            ds = st.datasets.get(m.group(1))
            if ds is None:
                return _error(h, 404, f"dataset {m.group(1)} not found", 5)
            if m.group(2) == "upload" and method == "POST":
                return _upload(h, ds, body)
            if method == "GET":
                if ds["state"] == "PROCESSING":
                    ds["state"] = "READY"
                    return h._send(200, {**ds, "state": "UPLOADING"})
                return h._send(200, ds)
        m = re.fullmatch(
            r"/(supervisedFineTuningJobs|dpoJobs)(?:/([^/:]+)(?::(cancel|getMetricsFileEndpoint))?)?", rest
        )
        if m:
            kind, job_id, action = m.groups()
            if job_id is None and method == "POST":
                wanted = query.get("supervisedFineTuningJobId" if kind == "supervisedFineTuningJobs" else "dpoJobId")
                return _create_job(h, kind, wanted, json.loads(body or b"{}"))
            job = st.jobs.get(job_id or "")
            if job is None or job.provider != "fireworks" or job.request.get("_kind") != kind:
                return _error(h, 404, f"job {job_id} not found", 5)
            if action == "cancel":
                job.status = "JOB_STATE_CANCELLED"
                return h._send(200, {})
            if action == "getMetricsFileEndpoint":
                return h._send(200, {"signedUrl": _metrics_url(h, job.id)})
            st.advance(job)
            return h._send(200, _job(h, job))
    return _error(h, 404, f"no route for {method} {path}", 5)


def _create_dataset(h: Any, req: dict[str, Any]) -> None:
    st = h.state
    ds_id = req.get("datasetId")
    if not ds_id or not re.fullmatch(r"[a-z][a-z0-9-]{0,62}", ds_id):
        return _error(h, 400, f"invalid dataset id {ds_id!r}")
    if ds_id in st.datasets:
        return _error(h, 409, f"dataset {ds_id} already exists", 6)
    ds = {
        "name": f"accounts/{ACCOUNT}/datasets/{ds_id}",
        "state": "UPLOADING",
        "status": {"code": "OK", "message": ""},
        "exampleCount": (req.get("dataset") or {}).get("exampleCount"),
        "userUploaded": {},
        "createTime": "2026-11-30T10:00:00Z",
    }
    st.datasets[ds_id] = ds
    h._send(200, ds)


def _upload(h: Any, ds: dict[str, Any], body: bytes) -> None:
    form = h._form(body)
    upload = form.get("file") or {}
    data = upload.get("data") or b"" if isinstance(upload, dict) else b""
    for n, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        try:
            obj = json.loads(line)
        except ValueError:
            return _error(h, 400, f"invalid dataset: line {n} is not valid JSON")
        if not isinstance(obj, dict) or not (isinstance(obj.get("messages"), list) or "input" in obj):
            return _error(h, 400, f"invalid dataset: line {n} has no messages field")
    ds["state"] = "PROCESSING"
    ds["exampleCount"] = str(len(data.splitlines()))
    h.state.contents[ds["name"]] = data
    h._send(200, {"filenameToSignedUrls": {}})


def _create_job(h: Any, kind: str, job_id: str | None, req: dict[str, Any]) -> None:
    st = h.state
    config = req.get("trainingConfig") or req if kind == "dpoJobs" else req
    model = config.get("baseModel")
    if job_id and job_id in st.jobs:
        return _error(h, 409, f"job {job_id} already exists", 6)
    if model not in FIREWORKS_MODELS:
        return _error(h, 400, f"base model {model} is not tunable on Fireworks")
    ds_id = str(req.get("dataset", "")).rsplit("/", 1)[-1]
    if st.datasets.get(ds_id, {}).get("state") != "READY":
        return _error(h, 400, f"dataset {req.get('dataset')} is not ready")
    job = st.create_job(
        "fireworks", model, req["dataset"], req.get("evaluationDataset"), {**req, "_kind": kind}, job_id
    )
    h._send(200, _job(h, job))


def _metrics_url(h: Any, job_id: str) -> str:
    return f"http://127.0.0.1:{h.server.server_address[1]}/fireworks/metrics/{job_id}"


def _job(h: Any, job: Any) -> dict[str, Any]:
    req = job.request
    config = req.get("trainingConfig") or req
    done = job.status == "JOB_STATE_COMPLETED"
    out: dict[str, Any] = {
        "name": f"accounts/{ACCOUNT}/{req['_kind']}/{job.id}",
        "dataset": job.training_file,
        "displayName": req.get("displayName"),
        "state": job.status,
        "createTime": "2026-11-30T10:00:00Z",
        "status": (
            {"code": "INVALID_ARGUMENT", "message": "Training failed: the example on line 3 has no assistant message"}
            if job.status == "JOB_STATE_FAILED"
            else {"code": "OK", "message": ""}
        ),
        "jobProgress": {"percent": min(100, 100 * len(job.metrics) // max(1, h.state.total_steps)), "epoch": 0},
        "outputModel": f"accounts/{ACCOUNT}/models/{config.get('outputModel') or job.id}" if done else None,
    }
    if req["_kind"] == "supervisedFineTuningJobs":
        out.update(
            baseModel=req.get("baseModel"),
            epochs=req.get("epochs"),
            evaluationDataset=req.get("evaluationDataset"),
            metricsFileSignedUrl=_metrics_url(h, job.id) if job.metrics else None,
            estimatedCost={"currencyCode": "USD", "units": "0", "nanos": 420000000},
            completedTime="2026-11-30T10:05:00Z" if done else None,
        )
    else:
        out["trainingConfig"] = config
    return out
