"""Any endpoint that speaks OpenAI's fine-tuning API (Nebius Token Factory and others), through the `openai` SDK.

`tuneline train FILE --backend openai-compatible --base-url URL`: the OpenAI backend's upload, job and polling code
(this class only swaps the client and the sentences), with the key from `TUNELINE_API_KEY` or the variable
`--api-key-env NAME` names. The base URL is checked before anything is sent (https, or plain http only to this
machine; no credentials in it) and recorded in the run's request, so a recovered run talks to the same endpoint.
No calendar: OpenAI's end of self-serve fine-tuning is OpenAI's, not the endpoint's.
"""

from __future__ import annotations

import os
from typing import Any

from ..redact import protect_env
from .base import BackendError, Plan, TrainRequest
from .hosted import OTHER_BACKENDS, checked_url, env_float
from .openai_backend import OpenAIBackend
from .provider_facts import formats_for
from .registry import BACKENDS, ENV_NAME, KEY_ENV

INFO = BACKENDS["openai-compatible"]
BASE_URL_ENV = INFO.settings[0].env


class OpenAICompatibleBackend(OpenAIBackend):
    name = "openai-compatible"
    provider = "the OpenAI-compatible endpoint"
    default_model = ""  # every endpoint has its own models: --model is required
    key_env = (KEY_ENV["openai-compatible"],)
    calendar = None
    parts_upload = False  # the Uploads API is OpenAI's own; other endpoints take files through /files
    key_page = "the endpoint's console"

    @property
    def formats(self) -> dict[str, str]:  # type: ignore[override]
        return formats_for("openai-compatible")

    def base_url(self, options: dict[str, Any] | None = None) -> str:
        opts = self._options if options is None else options
        given = opts.get("base_url") or os.environ.get(BASE_URL_ENV)
        if not given:
            raise BackendError(
                f"--backend openai-compatible needs the endpoint's address: pass --base-url URL (or set {BASE_URL_ENV})"
            )
        return checked_url(given, "--base-url" if opts.get("base_url") else BASE_URL_ENV)

    def prepare(self, request: TrainRequest) -> Plan:
        # The address and the key variable are fixed now and travel in request.json: a resumed run talks to the
        # same endpoint with the same variable, whatever the environment says later.
        request.options["base_url"] = self.base_url(request.options)
        if not request.model:
            raise BackendError("--backend openai-compatible needs --model NAME: each endpoint has its own models")
        key_env = request.options.get("api_key_env")
        if key_env is not None and (not isinstance(key_env, str) or not ENV_NAME.fullmatch(key_env)):
            raise BackendError(f"--api-key-env takes the name of an environment variable, not {key_env!r}")
        return super().prepare(request)

    def check_model(self, model: str, info: Any, warnings: list[str]) -> None:
        # A model name means what the endpoint says it means (Nebius serves models Together also tunes).
        if info.is_shut_down():
            super().check_model(model, info, warnings)
        if not info.known or info.provider != self.name:
            warnings.append(
                f"the endpoint decides whether it can fine-tune {model}; tuneline counts tokens with "
                f"{info.encoding} as an estimate"
            )

    def price_applies(self, info: Any) -> bool:
        return info.provider == self.name  # a price of OpenAI's or Together's is not this endpoint's

    def unknown_price_note(self, model: str) -> str:
        return (
            f"no price is recorded for {model} on this endpoint, so the cost is unknown: see the endpoint's pricing "
            f'page, or add `price` and `provider = "openai-compatible"` for it under [models] in tuneline.toml'
        )

    def format_refusal(self, title: str) -> str:
        return (
            f"OpenAI-compatible endpoints are sent chat, prompt/completion, text or preference files, and this one "
            f"is {title}: convert it to chat format first"
        )

    def make_client(self) -> Any:
        import openai

        key_name = self.key_name()
        protect_env(key_name)  # whatever variable holds the key, its value never reaches a log or run.json
        return openai.OpenAI(
            api_key=self.key(),
            base_url=self.base_url(),
            max_retries=0,
            timeout=env_float("TUNELINE_HTTP_TIMEOUT", 600.0),
        )

    def auth_sentence(self) -> str:
        return (
            f"the endpoint at {self._options.get('base_url')} rejected the API key in {self.key_name()}; check the "
            "key (or name the right variable with --api-key-env NAME)"
        )

    def permission_sentence(self, msg: str, doing: str) -> str:
        return (
            f"the endpoint at {self._options.get('base_url')} denied permission while {doing} ({msg}); check that "
            f"the key may fine-tune there, or train with {OTHER_BACKENDS['openai-compatible']}"
        )

    def not_found_sentence(self, msg: str, doing: str) -> str | None:
        return (
            f"the endpoint at {self._options.get('base_url')} has no OpenAI fine-tuning API ({msg}) while {doing}: "
            "check --base-url (it usually ends in /v1)"
        )


BACKEND = OpenAICompatibleBackend()
