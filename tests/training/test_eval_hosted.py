"""`tuneline eval` on hosted providers, through the CLI as a user runs it: the real `openai` and `together` SDKs
talk to the local chat-completions fake (`fake_chat.py`). Rate limits, timeouts, a failing example, resume after
SIGKILL, the judge, refusals of planted runs and of bad files, and the JSON contract."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from .conftest import chat_line, run_files_text, wait_until, write_lines
from .fake_chat import (
    BASE,
    OPENAI_KEY,
    TOOLS,
    TUNED,
    FakeChat,
    base_model,
    held_out_lines,
    judge_by_reference,
    last_user,
    tuned_model,
)


@pytest.fixture(autouse=True)
def _short_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """A reply later than 2 s is a timeout here (the retry test's delayed reply)."""
    monkeypatch.setenv("TUNELINE_EVAL_TIMEOUT", "2")


def tuneline(*args: str, cwd: Path, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "tuneline", *args],
        cwd=cwd,
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
    return result


def eval_folders(run: Path) -> list[Path]:
    root = run / "eval"
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def test_the_metrics_of_a_run_through_the_cli(project: Path, run: Path, chat: FakeChat):
    result = tuneline("eval", "last", "--yes", "--format", "json", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "Evaluation plan" in result.stderr and "Estimated cost    $" in result.stderr
    out = json.loads(result.stdout)
    assert {k: out[k] for k in ("run", "model", "base", "examples", "backend")} == {
        "run": run.name,
        "model": TUNED,
        "base": BASE,
        "examples": 8,
        "backend": "openai",
    }
    tuned, base = out["metrics"]["tuned"], out["metrics"]["base"]
    assert tuned["exact_match"] == 0.875 and base["exact_match"] == 0.25
    assert tuned["json_valid"] == base["json_valid"] == 1.0  # the base's JSON is fenced, still valid
    assert tuned["json_same_keys"] == 1.0 and base["json_same_keys"] == 0.0
    assert tuned["tool_call_match"] == 1.0 and base["tool_call_match"] == 0.0 and base["tool_name_match"] == 1.0
    assert base["refusal_rate"] == 0.25 and tuned["refusal_rate"] == 0.0
    assert tuned["counts"]["json_valid"] == 2 and tuned["counts"]["tool_call_match"] == 2
    assert tuned["mean_answer_tokens"] > 0 and tuned["cost_usd"] > 0 and base["cost_usd"] > 0
    assert out["metrics"]["difference"]["exact_match"] == 0.625
    items = {i["line"]: i for i in out["items"]}
    assert sorted(items) == list(range(1, 9))
    assert items[4]["comparison"] == "worse" and items[4]["tuned"] == "Open settings."
    assert items[1]["scores"]["base"]["refusal"] is True and items[1]["comparison"] == "better"
    assert items[7]["tuned_tool_calls"] == [{"name": "get_weather", "arguments": {"city": "City6", "unit": "C"}}]
    assert out["worse"] == 1

    (folder,) = eval_folders(run)
    assert {p.name for p in folder.iterdir()} >= {"eval.json", "items.jsonl", "results.jsonl", "summary.json"}
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["complete"] and summary["metrics"]["tuned"]["exact_match"] == 0.875 and "items" not in summary
    assert len((folder / "results.jsonl").read_text().splitlines()) == 16
    assert OPENAI_KEY not in run_files_text(run)
    # the prompt sent is every turn before the last assistant turn, with the example's tools
    sent = [r["body"] for r in chat.state.requests if r["model"] == TUNED and "weather in city 6" in r["user"]]
    assert sent[0]["messages"][-1]["role"] == "user" and sent[0]["tools"] == TOOLS and sent[0]["temperature"] == 0

    text = tuneline("eval", run.name[-6:], "--show", cwd=project)
    assert text.returncode == 0 and "exact match" in text.stdout and "+62.5 pts" in text.stdout
    assert "Tuned worse than base on 1 example(s): line 4" in text.stdout
    page = tuneline("eval", "last", "--show", "--format", "html", "-o", str(project / "report.html"), cwd=project)
    assert page.returncode == 0 and page.stdout == ""
    html = (project / "report.html").read_text()
    assert "<table class='metrics'>" in html and "only-worse" in html and "data-line='4'" in html


def test_retries_a_timeout_and_keeps_going_past_a_failing_example(project: Path, run: Path, chat: FakeChat):
    chat.state.inject("^ft:", status=429, times=2, headers={"Retry-After": "0"})
    chat.state.inject(f"^{BASE}$", delay=3.0, times=1)  # longer than TUNELINE_EVAL_TIMEOUT: the SDK times out
    refs = held_out_lines()[1]
    right = tuned_model(refs)
    chat.state.models[TUNED] = lambda m, t: (
        {"error_status": 400, "message": "This model's maximum context length is 16385 tokens."}
        if "task 5 as JSON" in last_user(m)
        else right(m, t)
    )
    result = tuneline("eval", "last", "--yes", "--concurrency", "2", cwd=project)
    assert result.returncode == 1, result.stdout + result.stderr  # done, but one example has no answer
    assert "OpenAI rate limit (tuned model); retrying" in result.stderr
    assert "OpenAI no answer (base model); retrying" in result.stderr
    assert "1 example(s) without an answer (line 6: OpenAI answered 400: This model's maximum context" in result.stdout
    out = json.loads(tuneline("eval", "last", "--show", "--format", "json", cwd=project).stdout)
    assert out["metrics"]["tuned"]["errors"] == 1 and out["metrics"]["tuned"]["answered"] == 7
    assert out["metrics"]["base"]["answered"] == 8 and not out["complete"]
    failing = [r for r in chat.state.requests if r["model"] == TUNED and "task 5 as JSON" in r["user"]]
    assert [r["status"] for r in failing] == [400]  # a bad request is not retried

    again = tuneline("eval", "last", "--yes", cwd=project)  # resumes: asks only the failed example again
    assert "resuming evaluation" in again.stderr and "Requests          1 answers" in again.stderr


def test_resume_after_sigkill_asks_nothing_twice(project: Path, run: Path, chat: FakeChat):
    gate = threading.Event()
    refs = held_out_lines()[1]
    right = tuned_model(refs)

    def slow_after_four(messages, tools):
        if "task 5 as JSON" in last_user(messages):
            gate.wait(30)
        return right(messages, tools)

    chat.state.models[TUNED] = slow_after_four
    proc = subprocess.Popen(
        [sys.executable, "-m", "tuneline", "eval", "last", "--yes", "--concurrency", "1"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        wait_until(
            lambda: (
                eval_folders(run)
                and (eval_folders(run)[0] / "results.jsonl").exists()
                and len((eval_folders(run)[0] / "results.jsonl").read_text().splitlines()) >= 8
            ),
            timeout=30,
        )
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        gate.set()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    (folder,) = eval_folders(run)
    before = [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]
    assert not (folder / "summary.json").exists()

    result = tuneline("eval", "last", "--yes", "--format", "json", cwd=project)
    assert result.returncode == 0, result.stderr
    assert f"resuming evaluation {folder.name}: {len(before)} answers are already there" in result.stderr
    assert eval_folders(run) == [folder]
    out = json.loads(result.stdout)
    assert out["complete"] and out["metrics"]["tuned"]["exact_match"] == 0.875
    for r in before:  # everything answered before the kill was asked exactly once
        model = TUNED if r["role"] == "tuned" else BASE
        question = next(
            m["content"]
            for m in json.loads((folder / "items.jsonl").read_text().splitlines()[r["line"] - 1])["prompt"]
            if m["role"] == "user"
        )
        asked = [q for q in chat.state.requests if q["model"] == model and q["user"] == question and q["status"] == 200]
        assert len(asked) == 1, (r, asked)


def test_the_judge_sees_both_orders(project: Path, run: Path, chat: FakeChat):
    chat.state.models["gpt-4.1"] = judge_by_reference
    result = tuneline("eval", "last", "--yes", "--judge", "gpt-4.1", "--format", "json", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "Judge             gpt-4.1 (openai), each example in both orders" in result.stderr
    assert "+ 16 judge verdicts" in result.stderr
    out = json.loads(result.stdout)
    judge = out["metrics"]["judge"]
    # wins where only tuned matches the reference (tasks 0, 1, both JSON, both tool calls), a tie where both do
    # (task 2), a loss where only base does (task 3)
    assert judge == {
        "judged": 8,
        "win_rate": 0.75,
        "loss_rate": 0.125,
        "tie_rate": 0.125,
        "inconsistent": 0,
        "unreadable": 0,
    }
    asked = [r for r in chat.state.requests if r["model"] == "gpt-4.1"]
    assert len(asked) == 16
    from tuneline.training.evaluate.judge import SYSTEM

    assert all(r["body"]["messages"][0]["content"] == SYSTEM for r in asked)
    line1 = [r["user"] for r in asked if "how do I do task 0?" in r["user"]]
    a_first = [u.split("## Answer A\n")[1].split("\n\n")[0] for u in line1]
    assert sorted(a_first) == sorted(
        ["To do task 0, open settings and choose option 0.", "I'm sorry, but I can't help with that."]
    )
    assert {i["line"]: i["scores"]["judge"] for i in out["items"]}[4] == "base"


def test_wrong_key_and_a_model_the_provider_does_not_serve(project: Path, run: Path, chat: FakeChat):
    env = {**os.environ, "OPENAI_API_KEY": "sk-proj-wrongwrongwrongwrongwrongwrong0000"}
    result = tuneline("eval", "last", "--yes", cwd=project, env=env)
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("tuneline: error: OpenAI rejected the API key in OPENAI_API_KEY")
    )
    assert "wrongwrong" not in result.stderr + result.stdout

    missing = tuneline("eval", "last", "--yes", "--base", "gpt-9-imaginary", cwd=project)
    assert missing.returncode == 2
    assert (
        "does not serve gpt-9-imaginary for chat completions" in missing.stderr
        and "pass --base MODEL" in missing.stderr
    )

    no_key = tuneline(
        "eval", "last", "--yes", cwd=project, env={k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    )
    assert no_key.returncode == 2 and "OPENAI_API_KEY is not set" in no_key.stderr


def test_a_planted_run_is_not_evaluated(project: Path, chat: FakeChat):
    from .conftest import plant_run, snapshot

    lines, _ = held_out_lines()
    validation = write_lines(project / "val.jsonl", lines)
    folder = plant_run(
        project, project / "data.jsonl", status="succeeded", result_model=TUNED, validation={"path": str(validation)}
    )
    before = snapshot(folder)
    result = tuneline("eval", folder.name, "--yes", cwd=project)
    assert result.returncode == 2
    assert "was not started here" in result.stderr and "tuneline evaluates only runs you started here" in result.stderr
    assert snapshot(folder) == before and chat.state.requests == []
    shown = tuneline("eval", folder.name, "--show", cwd=project)
    assert shown.returncode == 2 and "its evaluations are not shown" in shown.stderr


def test_a_model_named_on_together(project: Path, chat: FakeChat):
    lines, refs = held_out_lines()
    write_lines(project / "held.jsonl", lines[:4])
    tuned = "tuneline-test/Meta-Llama-3.1-8B-Instruct-Reference-abc123"
    chat.state.models[tuned] = tuned_model(refs)
    chat.state.models["meta-llama/Llama-3.3-70B-Instruct-Turbo"] = base_model
    result = tuneline(
        "eval",
        tuned,
        "--backend",
        "together",
        "--base",
        "meta-llama/Llama-3.3-70B-Instruct-Turbo",
        "--on",
        "held.jsonl",
        "--yes",
        "--price",
        "0.18,0.18",
        "--format",
        "json",
        cwd=project,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["run"] is None and out["backend"] == "together" and out["examples"] == 4
    assert out["metrics"]["tuned"]["exact_match"] == 0.75 and out["metrics"]["base"]["exact_match"] == 0.5
    assert out["metrics"]["tuned"]["cost_usd"] > 0
    assert {r["provider"] for r in chat.state.requests} == {"together"}
    assert Path(out["folder"]).parent == project / ".tuneline" / "evals"
    shown = tuneline("eval", tuned, "--show", cwd=project)
    assert shown.returncode == 0 and "exact match" in shown.stdout

    unknown = tuneline("eval", "some-org/some-model", "--on", "held.jsonl", "--yes", cwd=project)
    assert unknown.returncode == 2 and "pass --backend" in unknown.stderr


def test_cost_is_confirmed_before_anything_is_sent(project: Path, run: Path, chat: FakeChat):
    asked = tuneline("eval", "last", cwd=project)  # stdin is not a terminal
    assert asked.returncode == 2
    assert "this evaluation sends 16 requests (estimated cost $" in asked.stderr and "pass --yes" in asked.stderr
    dry = tuneline("eval", "last", "--dry-run", "--limit", "3", "--judge", "gpt-4.1", cwd=project)
    assert dry.returncode == 0 and "Dry run: nothing was sent." in dry.stderr
    assert "(3 examples)" in dry.stderr and "6 answers + 6 judge verdicts" in dry.stderr
    assert chat.state.requests == [] and eval_folders(run) == []


def test_bad_held_out_files(project: Path, run: Path, chat: FakeChat):
    missing = tuneline("eval", "last", "--on", "nope.jsonl", "--yes", cwd=project)
    assert missing.returncode == 2 and "nope.jsonl: cannot read" in missing.stderr
    os.mkfifo(project / "pipe.jsonl")
    fifo = tuneline("eval", "last", "--on", "pipe.jsonl", "--yes", cwd=project, timeout=20)
    assert fifo.returncode == 2 and "not a regular file" in fifo.stderr
    write_lines(project / "text.jsonl", ['{"text": "just text"}', "not json"])
    nothing = tuneline("eval", "last", "--on", "text.jsonl", "--yes", cwd=project)
    assert nothing.returncode == 2 and "holds no example that can be evaluated" in nothing.stderr
    write_lines(project / "mixed.jsonl", [chat_line(0), "{broken", '{"messages": [{"role": "user", "content": "hi"}]}'])
    chat.state.models[TUNED] = chat.state.models[BASE] = lambda m, t: "To do task 0, open settings and choose option 0."
    mixed = tuneline("eval", "last", "--on", "mixed.jsonl", "--yes", cwd=project)
    assert mixed.returncode == 0, mixed.stderr
    assert "note: 2 line(s) skipped: line 2: not valid JSON" in mixed.stderr
    for flag, value, words in (
        ("--limit", "0", "--limit must be"),
        ("--concurrency", "99", "--concurrency must be"),
        ("--price", "cheap", "--price takes IN,OUT"),
    ):
        bad = tuneline("eval", "last", flag, value, "--yes", cwd=project)
        assert bad.returncode == 2 and words in bad.stderr


def test_the_html_report_escapes_what_models_and_data_wrote(project: Path, run: Path, chat: FakeChat):
    hostile = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    write_lines(
        project / "hostile.jsonl",
        [json.dumps({"messages": [{"role": "user", "content": "Say hi"}, {"role": "assistant", "content": hostile}]})],
    )
    chat.state.models[TUNED] = lambda m, t: hostile
    chat.state.models[BASE] = lambda m, t: "\x1b[31mred\x1b[0m </pre><b>bold</b>"
    result = tuneline("eval", "last", "--on", "hostile.jsonl", "--yes", "--format", "html", cwd=project)
    assert result.returncode == 0, result.stderr
    page = result.stdout
    assert "<script>alert" not in page and "<img" not in page and "<b>bold" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("<script") == 1 and "script-src 'nonce-" in page  # only the report's own filter script
    text = tuneline("eval", "last", "--show", cwd=project)
    assert "\x1b" not in text.stdout


def test_a_real_run_trained_here_is_evaluated_on_its_split(project: Path, env: dict, monkeypatch: pytest.MonkeyPatch):
    """Train through the fake fine-tuning API (`tuneline train --split`), then evaluate the finished run on the
    validation part its split wrote, through the fake chat API."""
    trained = tuneline(
        "train", "data.jsonl", "--backend", "openai", "--split", "0.2", "--yes", cwd=project, timeout=120
    )
    assert trained.returncode == 0, trained.stdout + trained.stderr
    (run,) = (project / ".tuneline" / "runs").iterdir()
    record = json.loads((run / "run.json").read_text())
    validation = Path(record["validation"]["path"])
    assert validation.parent == run
    refs = {}
    for line in validation.read_text().splitlines():
        messages = json.loads(line)["messages"]
        refs[messages[1]["content"]] = messages[2]["content"]
    with FakeChat() as fc:
        fc.state.models[record["result_model"]] = lambda m, t: refs[last_user(m)]
        fc.state.models[record["model"]] = lambda m, t: "Please contact support."
        result = tuneline("eval", "last", "--yes", "--format", "json", cwd=project, env={**os.environ, **fc.env})
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["run"] == run.name and out["examples"] == 6 and out["file"] == str(validation)
    assert out["metrics"]["tuned"]["exact_match"] == 1.0 and out["metrics"]["base"]["exact_match"] == 0.0
    assert all(k not in run_files_text(run) for k in (fc.state.keys["openai"], env["OPENAI_API_KEY"]))


@pytest.mark.parametrize(
    ("backend", "tuned", "base", "route", "auth"),
    [
        ("fireworks", "accounts/me/models/support-ft", "accounts/fireworks/models/llama-v3p1-8b-instruct", "fireworks",
         "Bearer fw_"),
        ("azure", "support-ft-deployment", "gpt-4o-mini-deployment", "azure", "Bearer 0123456789abcdef"),
        ("openai-compatible", "my-org/support-ft", "my-org/base", "openai", "Bearer tuneline-compat"),
    ],
)  # fmt: skip
def test_the_other_hosted_backends_answer_through_their_own_clients(
    project: Path, chat: FakeChat, backend: str, tuned: str, base: str, route: str, auth: str
):
    lines, refs = held_out_lines()
    write_lines(project / "held.jsonl", lines[:3])
    chat.state.models[tuned] = tuned_model(refs)
    chat.state.models[base] = base_model
    result = tuneline(
        "eval", tuned, "--backend", backend, "--base", base, "--on", "held.jsonl", "--yes", "--format", "json",
        cwd=project,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["backend"] == backend and out["metrics"]["tuned"]["exact_match"] == 1.0
    assert out["metrics"]["base"]["exact_match"] == pytest.approx(1 / 3, abs=1e-4)
    assert {r["provider"] for r in chat.state.requests} == {route}
    assert all(r["auth"].startswith(auth) for r in chat.state.requests)
    if backend == "azure":
        missing = tuneline("eval", "gpt-4o-mini-2024-07-18.ft-abc", "--backend", "azure", "--base", base,
                           "--on", "held.jsonl", "--yes", cwd=project)  # fmt: skip
        assert missing.returncode == 2 and "Azure OpenAI answers through deployments" in missing.stderr


def test_ctrl_c_stops_at_once_and_keeps_what_was_answered(project: Path, run: Path, chat: FakeChat):
    chat.state.inject("^ft:", hang=True, times=1)  # the first tuned request never gets an answer
    # Started as a terminal starts it, Ctrl-C raising KeyboardInterrupt: a test run launched in the background
    # (`cmd &` in a script, `nohup`) hands its children SIGINT ignored, and Python then installs no handler for it.
    as_in_a_terminal = (
        "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "sys.argv = ['tuneline', *sys.argv[1:]]; runpy.run_module('tuneline', run_name='__main__')"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", as_in_a_terminal, "eval", "last", "--yes", "--concurrency", "2"], cwd=project,
        env={**os.environ, "TUNELINE_EVAL_TIMEOUT": "120"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_until(lambda: eval_folders(run) and (eval_folders(run)[0] / "results.jsonl").exists()
                   and len((eval_folders(run)[0] / "results.jsonl").read_text().splitlines()) >= 3, timeout=30)  # fmt: skip
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)  # not held until the hanging request times out
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and "stopped; the answers so far are kept in" in err and "Traceback" not in err
    summary = json.loads((eval_folders(run)[0] / "summary.json").read_text())
    assert summary["complete"] is False and summary["metrics"]["base"]["answered"] >= 1
