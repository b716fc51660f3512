"""`tuneline dedupe` changes only what it must: kept lines are byte-identical to the input, the file keeps its
mode and symlinks, the write is atomic, and only examples equal in everything that trains count as copies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from tuneline.cli import main

from .helpers import ok_line

TEMP = ".tuneline-tmp-"


def dedupe(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["dedupe", *args])
    out, err = capsys.readouterr()
    return code, out, err


def message(role: str, content: str, **extra) -> dict:
    return {"role": role, "content": content, **extra}


def example(*messages: dict, **extra) -> bytes:
    return json.dumps({"messages": list(messages), **extra}, ensure_ascii=False).encode()


def split_keep_ends(data: bytes) -> list[bytes]:
    """Lines with their own endings (CRLF, LF, lone CR)."""
    out, start, i = [], 0, 0
    while i < len(data):
        if data[i : i + 2] == b"\r\n":
            out.append(data[start : i + 2])
            i += 2
            start = i
        elif data[i : i + 1] in (b"\n", b"\r"):
            out.append(data[start : i + 1])
            i += 1
            start = i
        else:
            i += 1
    if start < len(data):
        out.append(data[start:])
    return out


def test_kept_lines_are_byte_identical(tmp_path, capsys):
    long_first = example(message("user", "x" * 70_000), message("assistant", "A long one."))  # over 64 KiB
    lines = [long_first, *(ok_line(i).encode() for i in range(12))]
    lines[0] = b"\xef\xbb\xbf" + lines[0]  # a BOM stays
    lines.append(b'{"messages": [{"role": "user", "content": "caf\xe9?"}, {"role": "assistant", "content": "Oui."}]}')
    lines.append(
        b'{"messages":[{"content":"Question number 4?","role":"user"},{"role":"assistant","content":"Answer number 4."}],"x":1}'
    )
    lines.append(lines[5])  # a copy of line 6 -> dropped
    lines.append(lines[13])  # a byte-identical copy of the line with invalid UTF-8 -> dropped
    # ok_line(3) (line 5) again, spelt differently: key order, spacing, an escape; the same value -> dropped
    respelt = json.dumps(json.loads(ok_line(3)), sort_keys=True, separators=(" ,", " : "))
    lines.append(respelt.replace("number 3.", "number \\u0033.").encode())
    endings = [b"\r\n", b"\n", b"\r"]
    data = b"".join(line + endings[i % 3] for i, line in enumerate(lines))[:-1]  # the last line has no ending
    src = tmp_path / "in.jsonl"
    src.write_bytes(data)
    code, out, err = dedupe(capsys, str(src), "-o", str(tmp_path / "out.jsonl"))
    assert code == 0, err
    assert "dropped " + str(src) + ":16: exact duplicate of line 6" in out
    assert ":17: exact duplicate of line 14" in out and ":18: exact duplicate of line 5" in out
    assert "kept 15 of 18 lines" in out
    expected = b"".join(line for i, line in enumerate(split_keep_ends(data)) if i not in (15, 16, 17))
    assert (tmp_path / "out.jsonl").read_bytes() == expected
    assert src.read_bytes() == data


def test_what_trains_is_compared_not_only_the_text(tmp_path, capsys):
    user, answer = message("user", "What is 2 + 2?"), message("assistant", "4")
    call = {"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a": 2}'}}
    lines = [ok_line(i).encode() for i in range(12)]
    variants = [
        example(user, answer),
        example(user, message("assistant", "4", weight=0)),  # not trained on: a different example
        example(message("user", "What is 2 + 2?", name="alice"), answer),
        example(user, message("assistant", "4 ")),  # whitespace is tokens
        example(user, message("assistant", None, tool_calls=[call])),
        example(user, answer, tools=[{"type": "function", "function": {"name": "add"}}]),
        example(user, answer),  # the only real copy
    ]
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\n".join([*lines, *variants]) + b"\n")
    code, out, _ = dedupe(capsys, str(src), "-o", str(tmp_path / "out.jsonl"))
    assert code == 0 and out.count("dropped") == 1 and ":19: exact duplicate of line 13" in out
    main(["check", "--format", "json", str(src)])
    out = capsys.readouterr().out
    dups = [
        (d["line"], d["related"][0]["line"]) for d in json.loads(out)["files"][0]["diagnostics"] if d["code"] == "TL301"
    ]
    assert dups == [(19, 13)]


def test_in_place_keeps_mode_and_symlink(tmp_path, capsys):
    real = tmp_path / "store" / "data.jsonl"
    real.parent.mkdir()
    lines = [ok_line(i) for i in range(12)]
    real.write_text("\n".join([*lines, lines[0]]) + "\n")
    real.chmod(0o640)
    link = tmp_path / "data.jsonl"
    link.symlink_to(real)
    code, out, _ = dedupe(capsys, str(link), "--in-place")
    assert code == 0 and "kept 12 of 13 lines" in out
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text() == "\n".join(lines) + "\n"
    assert real.stat().st_mode & 0o7777 == 0o640
    assert not [p for p in real.parent.iterdir() if TEMP in p.name]
    # nothing to drop: the file is not rewritten
    before = real.stat().st_mtime_ns
    code, out, _ = dedupe(capsys, str(link), "--in-place")
    assert code == 0 and "unchanged" in out and real.stat().st_mtime_ns == before
    # a new output file gets the usual mode for new files (umask), not a temp file's 0600
    old_umask = os.umask(0o022)
    try:
        code, _, _ = dedupe(capsys, str(real), "-o", str(tmp_path / "new.jsonl"))
    finally:
        os.umask(old_umask)
    assert code == 0 and (tmp_path / "new.jsonl").stat().st_mode & 0o777 == 0o644


def test_output_errors_are_one_line(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(ok_line(i) for i in range(12)) + "\n")
    for args, needle in (
        ([str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "o.jsonl")], "no such file"),
        ([str(src), "-o", str(src)], "use --in-place"),
        ([str(src)], "give -o OUT"),
        ([str(src), "-o", str(tmp_path)], "cannot write"),
    ):
        code, out, err = dedupe(capsys, *args)
        assert code == 2 and out == "", args
        assert err.count("\n") == 1 and err.startswith("tuneline: error: ") and needle in err, (args, err)


def test_a_write_killed_midway_leaves_the_file_whole_and_the_next_run_cleans_up(tmp_path):
    src = tmp_path / "in.jsonl"
    lines = [ok_line(i) for i in range(12)]
    data = ("\n".join([*lines, lines[1]]) + "\n").encode()
    src.write_bytes(data)
    # the real CLI, stopped inside its write (fsync never returns) and then killed: no cleanup code can run
    stall = (
        "import os, sys, time\n"
        "os.fsync = lambda fd: (print('writing', flush=True), time.sleep(600))\n"
        "from tuneline.cli import main\n"
        "sys.exit(main(['dedupe', sys.argv[1], '--in-place']))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", stall, str(src)], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"writing\n"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith(".in.jsonl" + TEMP)]
    assert len(leftovers) == 1 and leftovers[0].name.startswith(f".in.jsonl{TEMP}{proc.pid}-")
    assert src.read_bytes() == data  # the old file is whole
    started = time.monotonic()
    p = subprocess.run(
        [sys.executable, "-m", "tuneline", "dedupe", str(src), "--in-place"], capture_output=True, timeout=60
    )
    assert p.returncode == 0 and b"kept 12 of 13 lines" in p.stdout, p.stderr
    assert not [p for p in tmp_path.iterdir() if TEMP in p.name]
    assert src.read_bytes() == ("\n".join(lines) + "\n").encode()
    assert time.monotonic() - started < 60
