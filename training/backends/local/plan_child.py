"""The local pre-flight in a child process: `python -m tuneline.training.backends.local.plan_child` reads a
training request as JSON on stdin and writes the plan (or `{"error": sentence}`) as JSON on stdout.

Why a child: checking a local run means loading torch, transformers and the model's tokenizer (seconds, and
hundreds of MB that stay). The language server and the CLI ask for plans; they hand the work to a short-lived
process instead, as they do for training itself. The package does not import this module (`LocalBackend.prepare`
does, when called), so running it with `-m` does not load it twice.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from typing import Any

from ...processes import child_env, neutral_cwd, python_command
from ..base import BackendError, TrainRequest
from .plan import LocalPlan, plan_request

PLAN_TIMEOUT = 1800.0  # tokenizing a very large file takes a while; a hung child must not hang the caller forever
PLAN_MODULE = "tuneline.training.backends.local.plan_child"


def plan_in_child(request: TrainRequest) -> LocalPlan:
    """`plan_request` in a child process; its failures come back as the same one-sentence `BackendError`."""
    env = child_env(TOKENIZERS_PARALLELISM="false")
    try:
        done = subprocess.run(
            python_command(PLAN_MODULE),
            input=json.dumps(request.to_json(), default=str),
            capture_output=True,
            text=True,
            timeout=PLAN_TIMEOUT,
            env=env,
            cwd=str(neutral_cwd()),  # never the caller's folder, which may be a repository
        )
    except subprocess.TimeoutExpired:
        raise BackendError(
            f"the local pre-flight took more than {PLAN_TIMEOUT / 60:.0f} minutes; try a smaller file"
        ) from None
    try:
        answer = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise BackendError(f"the local pre-flight stopped unexpectedly ({last[:300]})") from None
    if "error" in answer:
        raise BackendError(answer["error"])
    return LocalPlan(**answer["plan"])


def main() -> int:
    """The child's side: one request in, one JSON line out (always exit 0; an error is an answer too)."""
    out = sys.stdout
    sys.stdout = sys.stderr  # libraries print; only the answer goes to the real stdout
    try:
        plan = plan_request(TrainRequest.from_json(json.load(sys.stdin)))
        answer: dict[str, Any] = {"plan": dataclasses.asdict(plan)}
    except BackendError as exc:
        answer = {"error": str(exc)}
    except Exception as exc:  # a bug: one sentence for the caller, the traceback on stderr
        import traceback

        traceback.print_exc()
        answer = {"error": f"the local pre-flight failed ({type(exc).__name__}: {str(exc)[:300]})"}
    out.write(json.dumps(answer) + "\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
