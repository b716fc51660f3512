"""Evaluates the e2e's trained run for real, so the editor has a finished evaluation to show: `tuneline eval RUN
--on FILE --limit N --yes` (the CLI, the real OpenAI SDK) against an in-process chat-completions fake
(tests/training/fake_chat.py) whose tuned model answers with the reference and whose base model does not.

    python -m tests.e2e.vscode.plant_eval WORKSPACE RUN_ID FILE   (from the repository; TUNELINE_STATE_DIR: the e2e's state folder)

Prints the CLI's output; exits with its code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.training.fake_chat import FakeChat, last_user
from tuneline.training.evaluate.items import read_held_out

LIMIT = 4


def main(workspace: str, run_id: str, on: str) -> int:
    run = json.loads((Path(workspace) / ".tuneline" / "runs" / run_id / "run.json").read_text(encoding="utf-8"))
    answers = {last_user(item.prompt): item.reference for item in read_held_out(Path(on), LIMIT).items}
    with FakeChat() as fc:
        fc.state.models[run["result_model"]] = lambda messages, _tools: answers.get(last_user(messages), "")
        fc.state.models[run["model"]] = lambda _messages, _tools: "I am the base model."
        env = {**os.environ, **fc.env, "TUNELINE_RETRY_BASE": "0.02"}
        done = subprocess.run(
            [sys.executable, "-m", "tuneline", "eval", run_id, "--on", on, "--limit", str(LIMIT), "--yes"],
            cwd=workspace,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    sys.stdout.write(done.stdout + done.stderr)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
