"""A local stand-in for the chat completions API of OpenAI (`/openai/v1/chat/completions`, which also serves as an
OpenAI-compatible endpoint and as Azure OpenAI's v1 API, whose client sends `api-key`), Together AI
(`/together/v1/chat/completions`) and Fireworks AI (`/fireworks/v1/chat/completions`), for `tuneline eval` tests
that drive the real SDKs.

How a model answers is up to the test: `state.models[name] = fn(messages, tools) -> str | dict` (a dict may carry
`content` and `tool_calls` as `[{"name", "arguments"}]`, or `error_status` and `message` to fail that one request);
a model not in the table gets OpenAI's 404. `judge_by_reference`
is a judge that prefers the answer equal to the reference (and says so in both orders).

Failures are injected per test: `state.inject(model_or_regex, status=429, times=2, headers={"Retry-After": "0"})`,
`delay=SECONDS` (the reply comes late: a client timeout), `drop=True` (the connection closes unanswered), or
`hang=True` (no reply until the server stops). Every request is logged in `state.requests` (model, user text, key).

Standalone, for editor end-to-end tests: `python -m tests.training.fake_chat --port 8766`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .fake_http import FakeServer, JsonHandler

OPENAI_KEY = "sk-proj-tuneline-chat-test-0123456789abcdefghijklmnopqrstuvwxyz"
TOGETHER_KEY = "tgp_v1_tuneline-chat-test-0123456789abcdefghijklmnop"
FIREWORKS_KEY = "fw_tuneline_chat_test_0123456789abcdefghij"
AZURE_KEY = "0123456789abcdef0123456789abcdef"  # Azure keys are 32 hex characters
COMPAT_KEY = "tuneline-compat-chat-test-0123456789abcdef"
ROUTES = {
    "/openai/v1/chat/completions": "openai",  # also OpenAI-compatible endpoints and Azure's v1 API
    "/together/v1/chat/completions": "together",
    "/fireworks/v1/chat/completions": "fireworks",
}

Responder = Callable[[list[dict[str, Any]], Any], Any]


@dataclass
class Injection:
    pattern: str  # matched against the model name
    status: int | None = None
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    delay: float = 0.0
    drop: bool = False
    hang: bool = False


def last_user(messages: list[dict[str, Any]]) -> str:
    for m in reversed(messages):
        if m.get("role") == "user":
            content = m.get("content")
            return content if isinstance(content, str) else json.dumps(content)
    return ""


def judge_by_reference(messages: list[dict[str, Any]], _tools: Any) -> str:
    """A judge that picks the answer equal to the reference (tie when both or neither are)."""
    text = last_user(messages)
    m = re.search(r"## Reference answer\n(.*?)\n\n## Answer A\n(.*?)\n\n## Answer B\n(.*?)\n\nWhich answer", text, re.S)
    if not m:
        return "I cannot tell."
    ref, a, b = (s.strip() for s in m.groups())
    winner = "A" if a == ref and b != ref else "B" if b == ref and a != ref else "tie"
    return json.dumps({"winner": winner})


class ChatState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.keys = {
            "openai": OPENAI_KEY,
            "together": TOGETHER_KEY,
            "fireworks": FIREWORKS_KEY,
            "azure": AZURE_KEY,
            "compat": COMPAT_KEY,
        }
        self.models: dict[str, Responder] = {}
        self.injections: list[Injection] = []
        self.requests: list[dict[str, Any]] = []
        self.stopping = threading.Event()

    def inject(self, pattern: str, **kwargs: Any) -> None:
        with self.lock:
            self.injections.append(Injection(pattern, **kwargs))

    def take(self, model: str) -> Injection | None:
        with self.lock:
            for inj in self.injections:
                if inj.times > 0 and re.search(inj.pattern, model):
                    inj.times -= 1
                    return inj
        return None

    def answered(self, model: str) -> int:
        with self.lock:
            return sum(1 for r in self.requests if r["model"] == model and r.get("status") == 200)


class Handler(JsonHandler):
    server_version = "fake-chat/1"

    def _error(self, status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None) -> None:
        self._send(status, {"error": {"message": message, "type": "invalid_request_error", "code": code}}, headers)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        path = self.path.split("?")[0]
        provider = ROUTES.get(path)
        if provider == "openai" and self.headers.get("api-key"):
            provider = "azure"  # Azure's client sends its key in `api-key`, to {endpoint}/openai/v1/
        model = str(body.get("model", ""))
        entry = {
            "provider": provider,
            "model": model,
            "user": last_user(body.get("messages") or []),
            "body": body,
            "auth": self.headers.get("Authorization", "") or self.headers.get("api-key", ""),
            "status": None,
        }
        with self.state.lock:
            self.state.requests.append(entry)
        if provider is None:
            entry["status"] = 404
            return self._error(404, f"no route for POST {path}")
        key = self.headers.get("api-key") or self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        accepted = {self.state.keys[provider]} | ({self.state.keys["compat"]} if provider == "openai" else set())
        if key not in accepted:
            entry["status"] = 401
            masked = key[:8] + "****" + key[-4:] if len(key) > 12 else "***"
            return self._error(401, f"Incorrect API key provided: {masked}.", "invalid_api_key")
        inj = self.state.take(model)
        if inj is not None:
            if inj.hang:
                self.state.stopping.wait()
                self.close_connection = True
                return
            if inj.delay:
                time.sleep(inj.delay)
            if inj.drop:
                self.close_connection = True
                return
            if inj.status:
                entry["status"] = inj.status
                payload = inj.body or {"error": {"message": f"injected {inj.status}", "type": "server_error"}}
                return self._send(inj.status, payload, inj.headers)
        responder = self.state.models.get(model)
        if responder is None:
            entry["status"] = 404
            return self._error(
                404, f"The model `{model}` does not exist or you do not have access to it.", "model_not_found"
            )
        reply = responder(body.get("messages") or [], body.get("tools"))
        if isinstance(reply, str):
            reply = {"content": reply}
        if reply.get("error_status"):  # this one prompt fails (a context that is too long, a bad request)
            entry["status"] = reply["error_status"]
            return self._error(reply["error_status"], reply.get("message", "bad request"), "invalid_request_error")
        calls = [
            {
                "id": f"call_{i}",
                "type": "function",
                "function": {"name": c["name"], "arguments": json.dumps(c.get("arguments", {}))},
            }
            for i, c in enumerate(reply.get("tool_calls") or [])
        ]
        content = reply.get("content")
        prompt_tokens = sum(len(str(m.get("content") or "").split()) + 3 for m in body.get("messages") or [])
        completion_tokens = len(str(content or "").split()) + 5 * len(calls)
        entry["status"] = 200
        self._send(
            200,
            {
                "id": f"chatcmpl-{len(self.state.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "tool_calls" if calls else "stop",
                        "message": {
                            "role": "assistant",
                            "content": content,
                            **({"tool_calls": calls} if calls else {}),
                        },
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            },
        )


class FakeChat(FakeServer):
    """`with FakeChat() as fc: fc.env` — the SDKs' base URLs and keys for this server."""

    handler = Handler

    def __init__(self, port: int = 0) -> None:
        super().__init__(ChatState(), port)

    @property
    def env(self) -> dict[str, str]:
        return {
            "OPENAI_BASE_URL": f"http://127.0.0.1:{self.port}/openai/v1",
            "OPENAI_API_KEY": self.state.keys["openai"],
            "TOGETHER_BASE_URL": f"http://127.0.0.1:{self.port}/together",
            "TOGETHER_API_KEY": self.state.keys["together"],
            "FIREWORKS_BASE_URL": f"http://127.0.0.1:{self.port}/fireworks",
            "FIREWORKS_API_KEY": self.state.keys["fireworks"],
            "AZURE_OPENAI_ENDPOINT": f"http://127.0.0.1:{self.port}",
            "AZURE_OPENAI_API_KEY": self.state.keys["azure"],
            "AZURE_OPENAI_API_VERSION": "v1",
            "TUNELINE_BASE_URL": f"http://127.0.0.1:{self.port}/openai/v1",
            "TUNELINE_API_KEY": self.state.keys["compat"],
        }

    def stop(self) -> None:
        self.state.stopping.set()  # release the requests a test made hang
        super().stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    fc = FakeChat(args.port)
    fc.state.models["gpt-4o-mini-2024-07-18"] = lambda messages, tools: "I am the base model."
    print(f"OPENAI_BASE_URL={fc.env['OPENAI_BASE_URL']}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        fc.httpd.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


# --- runs for eval tests -------------------------------------------------------------------------------------------
TUNED = "ft:gpt-4o-mini-2024-07-18:tuneline::evaltest"
BASE = "gpt-4o-mini-2024-07-18"
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]


def _text(i: int) -> tuple[str, str]:
    return f"Question {i}: how do I do task {i}?", f"To do task {i}, open settings and choose option {i}."


def held_out_lines() -> tuple[list[str], dict[str, dict]]:
    """Eight held-out examples (4 text, 2 JSON, 2 tool calls) and, per question, the reference answer."""
    lines, refs = [], {}
    for i in range(8):
        if i < 4:
            q, a = _text(i)
            answer = {"role": "assistant", "content": a}
        elif i < 6:
            q, a = f"Describe task {i} as JSON.", json.dumps({"task": i, "option": i})
            answer = {"role": "assistant", "content": a}
        else:
            q = f"What is the weather in city {i}?"
            args = json.dumps({"city": f"City{i}", "unit": "C"})
            answer = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": args}}
                ],
            }
        refs[q] = answer
        obj = {"messages": [{"role": "system", "content": "You are Nimbus."}, {"role": "user", "content": q}, answer]}
        if i >= 6:
            obj["tools"] = TOOLS
        lines.append(json.dumps(obj))
    return lines, refs


def as_reply(answer: dict) -> dict:
    calls = [
        {"name": c["function"]["name"], "arguments": json.loads(c["function"]["arguments"])}
        for c in answer.get("tool_calls", [])
    ]
    return {"content": answer.get("content"), "tool_calls": calls}


def tuned_model(refs: dict[str, dict]):
    """Right everywhere except task 3 (a shorter, wrong answer)."""

    def reply(messages, _tools):
        q = last_user(messages)
        if q.startswith("Question 3:"):
            return "Open settings."
        return as_reply(refs[q])

    return reply


def base_model(messages, _tools):
    """Refuses tasks 0-1, right on 2-3, JSON with missing keys, the right tool with wrong arguments."""
    q = last_user(messages)
    if q.startswith(("Question 0:", "Question 1:")):
        return "I'm sorry, but I can't help with that."
    if q.startswith("Question"):
        n = q.split(":")[0].split()[1]
        return f"To do task {n}, open settings and choose option {n}."
    if q.startswith("Describe"):
        return '```json\n{"task": 1}\n```'
    return {"content": None, "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}


def finished_run(
    project,
    validation,
    *,
    backend: str = "openai",
    run_id: str = "20261130-120000-openai-e7a1a1",
    base: str = BASE,
    tuned: str = TUNED,
):
    """A succeeded hosted run this user started here (run.json, request.json and the state record, as `tuneline
    train` leaves them), whose validation file is `validation`. Returns the run folder."""
    import hashlib
    from pathlib import Path

    from tuneline.training import provenance
    from tuneline.training.runs import RunRecord, RunRegistry

    def sha(path: Path) -> str:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()

    dataset = Path(project) / "data.jsonl"
    registry = RunRegistry(Path(project) / ".tuneline" / "runs")
    record = RunRecord(
        id=run_id,
        backend=backend,
        model=base,
        status="succeeded",
        result_model=tuned,
        dataset={"path": str(dataset), "sha256": sha(dataset), "examples": 30, "tokens": 1000},
        validation={"path": str(validation), "sha256": sha(validation), "examples": 8, "tokens": 300},
    )
    registry.create(record)
    request = {"dataset": str(dataset), "validation": str(validation), "model": base, "options": {}}
    (registry.folder(run_id) / "request.json").write_text(json.dumps(request), encoding="utf-8")
    provenance.remember(registry, record, source="cli", approval="--yes")
    return registry.folder(run_id)
