"""`tuneline check` as a user runs it: a real subprocess, its output formats and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


def run(*args: str, cwd: Path | None = None, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tuneline", *args], cwd=cwd or REPO, input=stdin, capture_output=True, timeout=120
    )


def test_text_output_is_ruff_like_and_exit_0_on_warnings():
    p = run("check", "examples/support-chat.jsonl")
    out = p.stdout.decode()
    assert p.returncode == 0, out
    assert "examples/support-chat.jsonl:62:1: TL301 [*] Duplicate of line 4." in out
    assert "chat (messages) · 62 examples" in out and "≈ $" in out


def test_exit_1_on_errors_and_every_error_listed():
    p = run("check", "examples/broken.jsonl", "--no-summary")
    assert p.returncode == 1
    out = p.stdout.decode()
    for code in ("TL001", "TL002", "TL003", "TL105", "TL107", "TL114", "TL115", "TL116", "TL119", "TL401"):
        assert f" {code}" in out, code
    assert "examples/broken.jsonl:2:93: TL001" in out


def test_json_output_has_exactly_the_documented_shape():
    p = run("check", "--format", "json", "examples/broken.jsonl")
    doc = json.loads(p.stdout)
    assert list(doc) == ["files"]
    (f,) = doc["files"]
    assert list(f) == ["path", "target", "format", "examples", "tokens", "cost", "diagnostics"]
    assert f["target"] == {"provider": "openai", "model": "gpt-4o-mini-2024-07-18", "method": "sft"}
    assert list(f["tokens"]) == ["total", "p50", "p95", "max", "exact"] and f["tokens"]["exact"] is True
    assert list(f["cost"]) == ["model", "epochs", "billed_tokens", "usd"]
    keys = ["code", "name", "severity", "message", "line", "column", "end_line", "end_column", "related"]
    assert all(list(d) == keys for d in f["diagnostics"])
    role = next(d for d in f["diagnostics"] if d["code"] == "TL105")
    line = (EXAMPLES / "broken.jsonl").read_text(encoding="utf-8").splitlines()[role["line"] - 1]
    assert line[role["column"] - 1 : role["end_column"] - 1] == '"assitant"'
    assert any(d["line"] is None for d in f["diagnostics"])


def test_json_related_points_at_first_copy():
    doc = json.loads(run("check", "--format", "json", "examples/support-chat.jsonl").stdout)
    dup = next(d for d in doc["files"][0]["diagnostics"] if d["code"] == "TL301")
    assert dup["related"] == [{"line": 4, "message": "first copy"}]


def test_sarif_and_github_formats():
    sarif = json.loads(run("check", "--format", "sarif", "examples/broken.jsonl").stdout)
    assert sarif["version"] == "2.1.0" and sarif["runs"][0]["results"]
    gh = run("check", "--format", "github", "examples/broken.jsonl").stdout.decode()
    assert "::error file=examples/broken.jsonl,line=2,col=93" in gh


def test_usage_and_io_errors_exit_2_without_traceback(tmp_path):
    for args in (
        ("check", "missing.jsonl"),
        ("check", "examples/support-chat.jsonl", "--epochs", "many"),
        ("check", "examples/support-chat.jsonl", "--epochs", "0"),
        ("check", "examples/support-chat.jsonl", "--config", "no-such-settings.toml"),
        ("rule", "TL999"),
    ):
        p = run(*args)
        assert p.returncode == 2, args
        assert b"Traceback" not in p.stderr and p.stderr.startswith(b"tuneline: error:")


def test_project_settings_and_flags(tmp_path):
    data = tmp_path / "data.jsonl"
    data.write_bytes((EXAMPLES / "support-chat.jsonl").read_bytes())
    (tmp_path / "tuneline.toml").write_text('model = "gpt-4.1-mini"\nepochs = 2\nignore = ["TL301"]\n')
    doc = json.loads(run("check", "--format", "json", str(data), cwd=tmp_path).stdout)
    f = doc["files"][0]
    assert f["cost"]["model"] == "gpt-4.1-mini-2025-04-14" and f["cost"]["epochs"] == 2
    assert "TL301" not in [d["code"] for d in f["diagnostics"]]
    doc = json.loads(
        run("check", "--format", "json", "--model", "gpt-4o", "--epochs", "1", str(data), cwd=tmp_path).stdout
    )
    assert doc["files"][0]["cost"]["model"] == "gpt-4o-2024-08-06" and doc["files"][0]["cost"]["epochs"] == 1
    (tmp_path / "tuneline.toml").write_text("colour = 1\n")
    p = run("check", str(data), cwd=tmp_path)
    assert p.returncode == 2 and b"unknown setting `colour`" in p.stderr


def test_pyproject_tool_table(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_bytes((EXAMPLES / "support-chat.jsonl").read_bytes())
    (tmp_path / "pyproject.toml").write_text('[tool.tuneline]\nselect = ["TL3"]\nseverity = { TL301 = "error" }\n')
    p = run("check", "--format", "json", str(data), cwd=tmp_path)
    doc = json.loads(p.stdout)
    assert {d["code"] for d in doc["files"][0]["diagnostics"]} == {"TL301", "TL305"}
    assert p.returncode == 1


def test_stdin_and_folders(tmp_path):
    p = run("check", "-", "--no-summary", stdin=(EXAMPLES / "broken.jsonl").read_bytes())
    assert p.returncode == 1 and b"-:2:93: TL001" in p.stdout
    p = run("check", "--no-summary", "examples")
    assert b"support-chat.jsonl" in p.stdout and b"broken.jsonl" in p.stdout


def test_rule_command_explains():
    p = run("rule", "unknown-role")
    assert p.returncode == 0 and b"TL105 unknown-role (error)" in p.stdout
    assert run("rule", "--all").stdout.count(b"\n") >= 35


def test_large_file_same_result_with_worker_processes(tmp_path):
    lines = (EXAMPLES / "support-chat.jsonl").read_text(encoding="utf-8").splitlines()
    big = tmp_path / "big.jsonl"
    # ~5 MB, above the size where worker processes start; the numbers make most lines distinct
    big.write_text("\n".join(line.replace("briefly", f"briefly {i}") for i in range(400) for line in lines) + "\n")
    one, two = (json.loads(run("check", "--format", "json", "--jobs", jobs, str(big)).stdout) for jobs in ("1", "2"))
    assert one == two
    assert one["files"][0]["examples"] == 400 * 62


def test_rule_docs_are_in_sync_with_the_catalogue():
    generated = run("rule", "--all", "--markdown").stdout.decode()
    assert (REPO / "docs" / "rules.md").read_text(encoding="utf-8") == generated, (
        "run: tuneline rule --all --markdown > docs/rules.md"
    )
