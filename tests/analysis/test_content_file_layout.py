"""The file-shape findings of issue 13: pretty-printed records (TL006), a cut-off last line (TL001), and Bedrock's
format said once."""

from __future__ import annotations

import json
import subprocess
import sys

from .content_cli import filler


def _check(tmp_path, name: str, data: str) -> tuple[int, str]:
    path = tmp_path / name
    path.write_text(data, encoding="utf-8", newline="")
    done = subprocess.run(
        [sys.executable, "-m", "tuneline", "check", "--no-summary", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stdout


def test_pretty_printed_records_get_one_error_and_capped_line_errors(tmp_path):
    records = [json.loads(line) for line in filler(40)]
    data = "\n".join(json.dumps(r, indent=2) for r in records) + "\n"
    code, out = _check(tmp_path, "pretty.json", data)
    assert code == 1
    assert out.count(" TL006 ") == 1 and "spans lines 1-16" in out and "jq -c . in.json > out.jsonl" in out
    assert out.count(" TL001 ") == 10  # of 640 fragment lines
    assert " TL303 " not in out  # "0 examples" is what the layout causes


def test_json_lines_and_array_files_are_not_multi_line_records(tmp_path):
    assert " TL006 " not in _check(tmp_path, "ok.jsonl", "\n".join(filler(12)) + "\n")[1]
    array = json.dumps([json.loads(line) for line in filler(12)], indent=2)
    out = _check(tmp_path, "array.json", array)[1]
    assert " TL005 " in out and " TL006 " not in out


def test_a_cut_off_last_line_says_the_file_looks_truncated(tmp_path):
    lines = filler(12)
    out = _check(tmp_path, "cut.jsonl", "\n".join(lines[:-1]) + "\n" + lines[-1][:40])[1]
    assert " TL001 " in out and "the file looks truncated" in out
    out = _check(tmp_path, "bad.jsonl", "\n".join(lines[:-1]) + "\n" + lines[-1][:40] + "\n")[1]
    assert " TL001 " in out and "truncated" not in out  # it has its line break: an ordinary bad line


def test_bedrock_lines_are_named_once_not_eight_times(tmp_path):
    record = {
        "schemaVersion": "bedrock-conversation-2024",
        "system": [{"text": "You are a helpful assistant."}],
        "messages": [
            {"role": "user", "content": [{"text": "What is 1 + 1?"}]},
            {"role": "assistant", "content": [{"text": "2."}]},
        ],
    }
    lines = []
    for i in range(12):
        r = json.loads(json.dumps(record))
        r["messages"][0]["content"][0]["text"] = f"What is {i} + {i}?"
        lines.append(json.dumps(r))
    _, out = _check(tmp_path, "bedrock.jsonl", "\n".join(lines) + "\n")
    assert "unknown type None" not in out and " TL108 " not in out and " TL109 " not in out
    done = subprocess.run(
        [sys.executable, "-m", "tuneline", "check", str(tmp_path / "bedrock.jsonl")], capture_output=True, text=True
    )
    assert "Amazon Bedrock conversation" in done.stdout
