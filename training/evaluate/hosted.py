"""Chat completions on a hosted provider, through the same SDK client and key its training backend uses.

Every hosted backend supplies the client: `backend.chat_client()` when it defines one (a provider whose inference
endpoint differs from its fine-tuning API), else its training client `backend.client()` — OpenAI, Together,
Fireworks and OpenAI-compatible endpoints all speak chat completions through it; Azure's v1 API gets the plain
OpenAI client on its `/openai/v1/` address (`CHAT_ADAPTERS`). The key check, the
endpoint settings and the "install the extra" sentence are the backend's own. Imported only where requests are
sent (the CLI process, or the editor's evaluation process), never by the language server.

Retries follow training's rules: 429 waits as long as `Retry-After` says, 5xx, dropped connections and timeouts
back off exponentially (`TUNELINE_RETRY_ATTEMPTS`, `TUNELINE_RETRY_BASE`). An example that still fails is recorded
with its error and the others go on; a wrong key, a model the provider does not serve, or a network that stays
down stops the evaluation with one sentence (what was answered is kept, and the same command resumes).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from ..backends.base import BackendError, TrainRequest
from ..backends.hosted import error_message, retry_after
from ..backends.registry import BACKENDS, key_variable
from .items import Item, tool_calls_of
from .metrics import Answer
from .plan import EvalError

ROLES = ("tuned", "base")
_REASONING = ("o1", "o3", "o4", "gpt-5")


class Stopped(Exception):
    """The user interrupted the evaluation."""


def env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


def _kinds(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def _code(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    code = getattr(exc, "code", None)
    if code is None and isinstance(body, dict):
        inner = body.get("error") if isinstance(body.get("error"), dict) else body
        code = inner.get("code")
    return str(code or "")


def transient(exc: BaseException) -> str | None:
    """'rate_limit' | 'server' | 'network' for a failure worth retrying (both SDKs share these class names)."""
    kinds = _kinds(exc)
    if "RateLimitError" in kinds:
        return None if _code(exc) == "insufficient_quota" else "rate_limit"
    if "APIConnectionError" in kinds:  # includes APITimeoutError
        return "network"
    status = _status(exc)
    if status is not None and status >= 500:
        return "server"
    return None


class Fatal(Exception):
    """A failure no other example would escape (wrong key, unknown model): stops the evaluation."""


def _azure_v1(impl: Any) -> Any:
    """Azure's v1 API serves chat completions at `{endpoint}/openai/v1/chat/completions` with the deployment as the
    model, as the plain OpenAI client sends it (`AzureOpenAI` would insert `/deployments/{model}`, the older route);
    older API versions keep the backend's own `AzureOpenAI` client."""
    if impl.api_version() not in ("v1", "preview"):
        return impl.client()
    impl.client()  # the backend's own checks first: key and endpoint set, https only, the SDK installed
    import openai

    key = impl.key()
    return openai.OpenAI(base_url=f"{impl.endpoint()}/openai/v1/", api_key=key, default_headers={"api-key": key})


# Backends whose training client is not the right chat client, until the backend supplies `chat_client()` itself.
CHAT_ADAPTERS: dict[str, Callable[[Any], Any]] = {"azure": _azure_v1}


def chat_client(backend: str, impl: Any) -> Any:
    """The SDK client that sends chat completions for `backend`: the backend's `chat_client()` when it has one, an
    adapter here for a backend that needs one, else its training client (all of them speak chat completions)."""
    hook = getattr(impl, "chat_client", None)
    if callable(hook):
        return hook()
    if backend in CHAT_ADAPTERS:
        return CHAT_ADAPTERS[backend](impl)
    return impl.client()


class Endpoint:
    """One model on one hosted backend: `complete(messages)` → `Answer`, with retries."""

    def __init__(
        self,
        backend: str,
        model: str,
        role: str,
        options: dict[str, Any] | None = None,
        stop: threading.Event | None = None,
        note: Callable[[str], None] | None = None,
    ) -> None:
        from ..backends import get_backend

        self.backend_name = backend
        self.model = model
        self.role = role
        self.stop = stop or threading.Event()
        self.note = note or (lambda _message: None)
        self.provider = BACKENDS[backend].title or backend
        self.options = dict(options or {})
        impl = get_backend(backend)
        bind = getattr(impl, "bind", None)
        if callable(bind):  # the backend reads its endpoint and key variable from the request's options
            with contextlib.suppress(TypeError):  # an older bind(record, registry) without a request
                bind(None, None, TrainRequest(Path("."), options=self.options))
        try:
            client = chat_client(backend, impl)
        except BackendError as exc:
            raise EvalError(str(exc)) from None
        if not hasattr(client, "chat"):
            raise EvalError(f"the {backend} backend has no chat completions client, so it cannot answer prompts")
        timeout = env_float("TUNELINE_EVAL_TIMEOUT", env_float("TUNELINE_HTTP_TIMEOUT", 120.0))
        with_options = getattr(client, "with_options", None)
        self.client = with_options(timeout=timeout, max_retries=0) if callable(with_options) else client

    # --- one request ---------------------------------------------------------------------------------------------
    def _kwargs(self, messages: list[dict[str, Any]], tools: Any, max_tokens: int, seed: int) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"model": self.model, "messages": messages, "seed": seed}
        if self.model.removeprefix("ft:").startswith(_REASONING):
            kwargs["max_completion_tokens"] = max_tokens  # reasoning models take no temperature or max_tokens
        else:
            kwargs["max_tokens"] = max_tokens
            kwargs["temperature"] = 0
        if tools:
            kwargs["tools"] = tools
        return kwargs

    def complete(
        self, messages: list[dict[str, Any]], tools: Any, max_tokens: int, seed: int
    ) -> tuple[Answer, str | None]:
        """(the answer, the kind of the last transient failure when it failed after retries). Raises Fatal or
        Stopped."""
        attempts = max(1, int(env_float("TUNELINE_RETRY_ATTEMPTS", 6)))
        base = env_float("TUNELINE_RETRY_BASE", 1.0)
        kwargs = self._kwargs(messages, tools, max_tokens, seed)
        for attempt in range(attempts):
            if self.stop.is_set():
                raise Stopped()
            try:
                response = self.client.chat.completions.create(**kwargs)
                return _answer(response), None
            except Exception as exc:
                fatal = self.fatal(exc)
                if fatal:
                    raise Fatal(fatal) from None
                kind = transient(exc)
                if kind is None or attempt == attempts - 1:
                    return Answer(error=self.sentence(exc, kind)), kind
                asked = retry_after(exc) if kind == "rate_limit" else None
                delay = asked if asked is not None else min(base * 2**attempt, 60.0 * base)
                why = {"rate_limit": "rate limit", "server": "server error", "network": "no answer"}[kind]
                self.note(f"{self.provider} {why} ({self.role} model); retrying in {delay:.2f}s")
                if self.stop.wait(delay):
                    raise Stopped() from None
        raise AssertionError("unreachable")

    def fatal(self, exc: BaseException) -> str | None:
        kinds, msg = _kinds(exc), error_message(exc)
        if "AuthenticationError" in kinds:
            key = key_variable(self.backend_name, self.options) or "its key variable"
            return (
                f"{self.provider} rejected the API key in {key} ({msg}); check the key, then run the same command again"
            )
        if "PermissionDeniedError" in kinds:
            return f"{self.provider} denied access to {self.model} ({msg})"
        if "NotFoundError" in kinds:
            hint = {"base": "pass --base MODEL", "judge": "pass another --judge MODEL"}.get(self.role, "check the name")
            if self.backend_name == "azure":  # a fine-tuned model answers only once it is deployed
                hint = (
                    "Azure OpenAI answers through deployments: deploy the models, then pass their deployment names "
                    "(`tuneline eval DEPLOYMENT --backend azure --base BASE_DEPLOYMENT --on FILE`)"
                )
            return f"{self.provider} does not serve {self.model} for chat completions ({msg}); {hint}"
        if "RateLimitError" in kinds and _code(exc) == "insufficient_quota":
            return f"{self.provider} says this account has no quota left ({msg}); add credit, then run the same command"
        return None

    def sentence(self, exc: BaseException, kind: str | None) -> str:
        msg = error_message(exc)
        if kind == "rate_limit":
            return f"{self.provider} kept rate-limiting this request ({msg})"
        if kind == "network":
            return f"no answer from {self.provider} ({type(exc).__name__}: {msg})"
        status = _status(exc)
        if status is not None:
            return f"{self.provider} answered {status}: {msg}"
        return f"unexpected {type(exc).__name__}: {msg}"


def _answer(response: Any) -> Answer:
    choices = getattr(response, "choices", None) or []
    message = getattr(choices[0], "message", None) if choices else None
    if message is None:
        return Answer(error="the provider returned no answer (no choices)")
    calls = []
    for call in getattr(message, "tool_calls", None) or []:
        fn = getattr(call, "function", None)
        if fn is not None:
            calls.append({"function": {"name": getattr(fn, "name", None), "arguments": getattr(fn, "arguments", None)}})
    usage = getattr(response, "usage", None)
    return Answer(
        content=getattr(message, "content", None) or "",
        tool_calls=tool_calls_of({"tool_calls": calls}),
        prompt_tokens=getattr(usage, "prompt_tokens", None),
        completion_tokens=getattr(usage, "completion_tokens", None),
    )


class Pool:
    """Runs request tasks `concurrency` at a time; a Fatal from any stops the rest, and so does a network that
    keeps failing (after retries) for several examples in a row."""

    def __init__(self, concurrency: int, stop: threading.Event) -> None:
        self.concurrency = concurrency
        self.stop = stop
        self._network_failures = 0
        self._lock = threading.Lock()

    def failed(self, kind: str | None) -> None:
        with self._lock:
            self._network_failures = self._network_failures + 1 if kind == "network" else 0
            if self._network_failures >= max(5, self.concurrency + 1):
                raise Fatal(
                    "the provider stopped answering (several requests in a row after every retry); check the network, then run the same command again to resume"
                )

    def run(self, tasks: list[Callable[[], None]], progress: Callable[[], None]) -> None:
        """Run `tasks`; once `stop` is set no new one starts, those in flight finish, and Stopped is raised. Any
        other exception (Ctrl-C, a Fatal) returns at once without waiting for requests in flight."""
        pending: set[Future] = set()
        queue = list(reversed(tasks))
        pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="tuneline-eval")
        try:
            while queue or pending:
                while queue and len(pending) < self.concurrency and not self.stop.is_set():
                    pending.add(pool.submit(queue.pop()))
                if not pending:
                    break
                finished, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in finished:
                    error = future.exception()
                    if error is not None:
                        raise error
                    progress()
        except BaseException:
            self.stop.set()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        if queue:
            raise Stopped()


def answer_all(
    spec: dict[str, Any],
    items: list[Item],
    done: dict[str, set[int]],
    add: Callable[[dict[str, Any]], None],
    progress: Callable[[], None],
    stop: threading.Event,
    note: Callable[[str], None],
) -> None:
    """Ask the tuned and the base model every prompt not answered yet; each answer is recorded as it arrives."""
    endpoints = {
        role: Endpoint(
            spec["backend"], spec[role if role == "base" else "model"], role, spec.get("options"), stop, note
        )
        for role in ROLES
    }
    pool = Pool(int(spec.get("concurrency") or 4), stop)

    def task(item: Item, role: str) -> Callable[[], None]:
        def run() -> None:
            started = time.monotonic()
            answer, kind = endpoints[role].complete(item.prompt, item.tools, int(spec["max_tokens"]), int(spec["seed"]))
            add(
                {
                    "line": item.line,
                    "role": role,
                    "model": endpoints[role].model,
                    "answer": answer.to_json(),
                    "seconds": round(time.monotonic() - started, 3),
                }
            )
            if answer.error is not None:
                pool.failed(kind)
            else:
                pool.failed(None)

        return run

    tasks = [task(i, role) for i in items for role in ROLES if i.line not in done.get(role, set())]
    pool.run(tasks, progress)


def judge_all(
    spec: dict[str, Any],
    items: list[Item],
    answers: dict[tuple[int, str], Answer],
    judged: set[tuple[int, str]],
    add: Callable[[dict[str, Any]], None],
    progress: Callable[[], None],
    stop: threading.Event,
    note: Callable[[str], None],
) -> None:
    """Judge every example both models answered, in both orders (skipping the orders already judged)."""
    from . import judge

    endpoint = Endpoint(spec["judge"]["backend"], spec["judge"]["model"], "judge", {}, stop, note)
    pool = Pool(int(spec.get("concurrency") or 4), stop)

    def task(item: Item, order: str) -> Callable[[], None]:
        tuned, base = answers[(item.line, "tuned")], answers[(item.line, "base")]
        pair = [(tuned.content, tuned.tool_calls), (base.content, base.tool_calls)]
        first, second = pair if order == "tuned-first" else pair[::-1]

        def run() -> None:
            answer, kind = endpoint.complete(
                judge.messages(item, first, second), None, judge.JUDGE_MAX_TOKENS, int(spec["seed"])
            )
            letter = judge.parse(answer.content) if answer.error is None else None
            add(
                {
                    "line": item.line,
                    "role": "judge",
                    "order": order,
                    "model": endpoint.model,
                    "verdict": judge.winner(order, letter),
                    "reply": answer.content[:300],
                    "answer": answer.to_json(),
                }
            )
            pool.failed(kind if answer.error is not None else None)

        return run

    tasks = [
        task(i, order)
        for i in items
        for order in judge.ORDERS
        if (i.line, order) not in judged
        and (i.line, "tuned") in answers
        and (i.line, "base") in answers
        and answers[(i.line, "tuned")].error is None
        and answers[(i.line, "base")].error is None
    ]
    pool.run(tasks, progress)
