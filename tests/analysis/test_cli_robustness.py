"""Bad input through the front door: `tuneline check` (and `dedupe`) as a user runs them. Every case ends in a
report, or one line on stderr with exit code 2: never a traceback, a hang, or a silent skip."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tuneline.cli import main

from .helpers import chat, ok_line

TIMEOUT = 60


def good_lines(n: int = 12) -> list[str]:
    return [ok_line(i) for i in range(n)]


def write(path: Path, lines: list[str], newline: str = "\n") -> Path:
    path.write_text("".join(line + newline for line in lines), encoding="utf-8")
    return path


def run_main(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def run(*args: str, cwd: Path | None = None, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tuneline", *args],
        cwd=cwd,
        capture_output=True,
        timeout=TIMEOUT,
        env={**os.environ, **(env or {})},
        **kwargs,
    )


def one_error_line(stderr: str | bytes, *needles: str) -> None:
    text = stderr.decode() if isinstance(stderr, bytes) else stderr
    assert "Traceback" not in text
    lines = text.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tuneline: error: "), text
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def codes(doc: dict) -> list[str]:
    return [d["code"] for d in doc["files"][0]["diagnostics"]]


# --- settings ------------------------------------------------------------------------------------------------


def test_config_file_of_any_name_is_honoured(tmp_path, capsys):
    data = write(tmp_path / "data.jsonl", good_lines())
    (tmp_path / "tuneline.toml").write_text("epochs = 7\n")  # discovery would find this one
    settings = tmp_path / "ci-settings.toml"
    settings.write_text('epochs = 2\nmodel = "gpt-4.1-mini"\nignore = ["TL304"]\n')
    code, out, _ = run_main(capsys, "check", "--format", "json", "--config", str(settings), str(data))
    doc = json.loads(out)
    assert doc["files"][0]["cost"]["epochs"] == 2 and doc["files"][0]["cost"]["model"].startswith("gpt-4.1-mini")
    assert "TL304" not in codes(doc) and code == 0
    shaped = tmp_path / "shared.toml"  # pyproject-shaped under another name: its [tool.tuneline] table
    shaped.write_text('[project]\nname = "x"\n\n[tool.tuneline]\nepochs = 3\n')
    code, out, _ = run_main(capsys, "check", "--format", "json", "--config", str(shaped), str(data))
    assert json.loads(out)["files"][0]["cost"]["epochs"] == 3
    code, out, _ = run_main(capsys, "dedupe", "--config", str(settings), str(data), "-o", str(tmp_path / "o.jsonl"))
    assert code == 0


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (None, "no such config file"),
        ("epochs = [\n", "not valid TOML"),
        ('[project]\nname = "x"\n', "no [tool.tuneline] table"),
        ("epochs = 0\n", "`epochs` must be"),
        ("colour = 1\n", "unknown setting `colour`"),
    ],
)
def test_missing_or_broken_config_file_is_exit_2(tmp_path, capsys, content, needle):
    data = write(tmp_path / "data.jsonl", good_lines())
    config = tmp_path / "my.toml"
    if content is not None:
        config.write_text(content)
    code, out, err = run_main(capsys, "check", "--config", str(config), str(data))
    assert code == 2 and out == ""
    one_error_line(err, str(config), needle)


@pytest.mark.parametrize("epochs", ["0", "51", "-1", "many"])
def test_epochs_out_of_range_are_rejected(tmp_path, capsys, epochs):
    data = write(tmp_path / "data.jsonl", good_lines())
    code, out, err = run_main(capsys, "check", "--epochs", epochs, str(data))
    assert code == 2 and out == ""
    one_error_line(err, "--epochs must be a number from 1 to 50 or 'auto'")


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (
            ["check", "--format", "bogus"],
            ["argument --format: invalid choice: 'bogus'", "(see `tuneline check --help`)"],
        ),
        (["check"], ["the following arguments are required: PATH"]),
        (["bogus"], ["argument COMMAND: invalid choice: 'bogus'", "(see `tuneline --help`)"]),
        (["check", "--jobs", "0"], ["argument --jobs: '0' is less than 1"]),
        (["check", "--jobs", "-3"], ["argument --jobs: '-3' is less than 1"]),
        (["check", "--jobs", "two"], ["argument --jobs: 'two' is not a whole number"]),
        (["check", "--near-duplicate-threshold", "5"], ["'5' is not a number in (0, 1]"]),
        (["check", "--near-duplicate-threshold", "nan"], ["'nan' is not a number in (0, 1]"]),
        (["check", "--near-duplicate-threshold", "-1"], ["'-1' is not a number in (0, 1]"]),
        (["dedupe", "--near-duplicate-threshold", "0"], ["'0' is not a number in (0, 1]"]),
        (["train", "--bogus"], ["unrecognized arguments: --bogus"]),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(tmp_path, args, needles):
    """argparse's own errors (a bad choice, a missing path, a value out of range) are one line, like every other:
    not its usage block, and never a silently accepted `--jobs 0` or a threshold that pairs every example."""
    data = write(tmp_path / "data.jsonl", good_lines())
    p = run(*args, *([str(data)] if args[0] != "bogus" and args != ["check"] else []))
    assert p.returncode == 2 and p.stdout == b""
    one_error_line(p.stderr, *needles)


def test_an_integer_too_long_for_python_is_one_plain_sentence(tmp_path, capsys):
    """A 5,000-digit number: json refuses it with advice for Python programmers (sys.set_int_max_str_digits); the
    finding says what is wrong in the user's words."""
    big = (
        '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x"}], "id": '
        + "7" * 5000
        + "}"
    )
    data = write(tmp_path / "data.jsonl", [*good_lines(), big])
    code, out, err = run_main(capsys, "check", "--format", "json", str(data))
    assert code == 1 and err == ""
    found = [d for d in json.loads(out)["files"][0]["diagnostics"] if d["code"] == "TL001"]
    assert [d["message"] for d in found] == [
        "Invalid JSON: an integer with 5,000 digits, more than the 4,300 that Python's JSON readers (and so most "
        "trainers) take."
    ]
    assert found[0]["line"] == 13


# --- what output can carry -------------------------------------------------------------------------------------


def check_bytes_out(capsysbinary, fmt: str, *args: str) -> tuple[int, str]:
    """Exit code and stdout (strictly UTF-8) of `check --format fmt`: the text format in a real process (the
    terminal's encoding), the machine formats in this one."""
    if fmt == "text":
        p = run("check", "--format", fmt, *args)
        assert p.stderr == b"" or p.stderr.startswith(b"tuneline: note"), p.stderr
        return p.returncode, p.stdout.decode("utf-8")
    code = main(["check", "--format", fmt, *args])
    out, err = capsysbinary.readouterr()
    assert err == b"", err
    return code, out.decode("utf-8")


def test_lone_surrogate_quoted_in_a_message_in_every_format(tmp_path, capsysbinary):
    system = "Be brief."
    lines = [chat(("user", f"q{i}"), ("assistant", "a"), system=system) for i in range(12)]
    # json.dumps escapes the lone surrogate: the file holds the six characters \ud800, as a user's file would
    odd = [{"role": "system", "content": "Be \ud800 long."}, {"role": "user", "content": "q"}]
    lines.append(json.dumps({"messages": [*odd, {"role": "assistant", "content": "a"}]}))
    assert "\\ud800" in lines[-1]
    data = write(tmp_path / "data.jsonl", lines)
    expected = 'System prompt "Be \\ud800 long." differs'
    for fmt in ("text", "json", "sarif", "github"):
        code, out = check_bytes_out(capsysbinary, fmt, str(data))
        assert code == 0, fmt  # TL305 is a warning
        if fmt == "json":
            messages = [d["message"] for d in json.loads(out)["files"][0]["diagnostics"]]
            assert any(m.startswith(expected) for m in messages), messages
        elif fmt == "sarif":
            results = json.loads(out)["runs"][0]["results"]
            assert any(r["message"]["text"].startswith(expected) for r in results)
        else:
            assert expected in out, (fmt, out)


def test_json_and_sarif_written_in_pieces_are_the_same_bytes(tmp_path, capsysbinary, monkeypatch):
    """`check --format json|sarif` writes its text in pieces, about a megabyte at a time, never joined whole (a
    report of 40,000 findings): cut into 7-character batches, the bytes are those of one write, a lone surrogate,
    "…" and an emoji included."""
    from tuneline.cli import common

    lines = [chat(("user", f"q{i}"), ("assistant", "a"), system="Be brief.") for i in range(12)]
    odd = [{"role": "system", "content": "Be \ud800 long … 😀 indeed."}, {"role": "user", "content": "q"}]
    lines += [json.dumps({"messages": [*odd, {"role": "assistant", "content": "a"}]}), "{bad"]
    data = write(tmp_path / "data.jsonl", lines)
    for fmt in ("json", "sarif"):
        whole = check_bytes_out(capsysbinary, fmt, str(data))
        monkeypatch.setattr(common, "_OUTPUT_BATCH", 7)
        assert check_bytes_out(capsysbinary, fmt, str(data)) == whole
        monkeypatch.undo()
        assert whole[0] == 1 and "\\ud800" in whole[1] and "TL001" in whole[1]
        json.loads(whole[1])


def test_file_name_that_is_not_utf8_is_reported_in_every_format(tmp_path, capsysbinary):
    name = os.fsdecode(b"data-\xff.jsonl")
    data = write(tmp_path / name, [*good_lines(), "{bad"])
    for fmt in ("text", "json", "sarif", "github"):
        code, out = check_bytes_out(capsysbinary, fmt, "--no-summary", str(data))
        assert code == 1, fmt
        assert "TL001" in out and "data-\\udcff.jsonl" in out.replace("\\\\", "\\"), (fmt, out)
        if fmt in ("json", "sarif"):
            json.loads(out)


# --- what cannot be read ---------------------------------------------------------------------------------------


def test_stdin_closed_or_endless_is_one_line(tmp_path):
    p = subprocess.run(
        [sys.executable, "-c", "import os, sys, runpy; os.close(0); sys.argv = ['tuneline', 'check', '-']; "
         "runpy.run_module('tuneline', run_name='__main__')"],
        capture_output=True,
        timeout=TIMEOUT,
    )  # fmt: skip
    assert p.returncode == 2
    one_error_line(p.stderr, "standard input is closed")
    with open("/dev/zero", "rb") as zero:
        p = run("check", "-", stdin=zero)
    assert p.returncode == 2
    one_error_line(p.stderr, "character device")
    p = run("check", "-", "--no-summary", stdin=subprocess.DEVNULL)  # /dev/null is an empty file, not an error
    assert p.returncode == 1 and b"TL303 0 examples" in p.stdout


def test_devices_fifos_and_symlinks_to_them_are_refused_when_named(tmp_path, capsys):
    link = tmp_path / "zero.jsonl"
    link.symlink_to("/dev/zero")
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    for path, kind in (("/dev/zero", "a character device"), (str(link), "a character device"), (str(fifo), "FIFO")):
        for command in (["check", path], ["dedupe", path, "-o", str(tmp_path / "o.jsonl")]):
            code, out, err = run_main(capsys, *command)
            assert code == 2 and out == "", command
            one_error_line(err, path, kind, "not a regular file")
    assert not (tmp_path / "o.jsonl").exists()


def test_folders_skip_what_is_not_a_regular_file_with_a_note(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    write(folder / "train.jsonl", [*good_lines(), "{bad"])
    os.mkfifo(folder / "stream.jsonl")
    (folder / "zero.jsonl").symlink_to("/dev/zero")
    (folder / "gone.jsonl").symlink_to(folder / "nowhere.jsonl")
    p = run("check", "--no-summary", str(folder))  # a subprocess: a hang would be a timeout, not a stuck suite
    assert p.returncode == 1  # the findings of train.jsonl; the notes do not change the exit code
    assert b"train.jsonl" in p.stdout and b"TL001" in p.stdout
    notes = sorted(p.stderr.decode().splitlines())
    assert len(notes) == 3 and all(n.startswith("tuneline: note: ") for n in notes), notes
    assert "gone.jsonl: skipped: a broken symlink" in notes[0]
    assert "stream.jsonl: skipped: a named pipe (FIFO), not a regular file" in notes[1]
    assert "zero.jsonl: skipped: a character device, not a regular file" in notes[2]


def test_folder_paths_with_dot_dot_are_walked(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "other").mkdir()
    write(tmp_path / "data" / "x.jsonl", [*good_lines(), "{bad"])
    p = run("check", "--no-summary", "../data", cwd=tmp_path / "other")
    assert p.returncode == 1 and b"x.jsonl:13:2: TL001" in p.stdout, p.stderr


def unprivileged(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run the CLI where file permissions apply: as root, without the capabilities that bypass them."""
    command = [sys.executable, "-m", "tuneline", *args]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: permissions cannot be tested")
        command = [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--", *command]
    return subprocess.run(command, cwd=cwd, capture_output=True, timeout=TIMEOUT)


def test_unreadable_files_and_folders(tmp_path):
    folder = tmp_path / "data"
    (folder / "locked").mkdir(parents=True)
    write(folder / "ok.jsonl", good_lines())
    write(folder / "locked" / "hidden.jsonl", ["{bad"])
    secret = write(folder / "secret.jsonl", ["{bad"])
    secret.chmod(0)
    (folder / "locked").chmod(0)
    try:
        # named explicitly: one line, exit 2, for check and dedupe
        for args in (["check", str(secret)], ["dedupe", str(secret), "-o", str(tmp_path / "out.jsonl")]):
            p = unprivileged(args, tmp_path)
            assert p.returncode == 2 and p.stdout == b"", args
            one_error_line(p.stderr, "secret.jsonl: cannot read: Permission denied")
        # found in a folder: the readable files are reported, each unreadable path is one warning, exit 2
        p = unprivileged(["check", "--no-summary", str(folder)], tmp_path)
        assert p.returncode == 2
        assert b"ok.jsonl" in p.stdout or p.stdout == b""  # ok.jsonl is clean; nothing else was read
        assert b"hidden.jsonl" not in p.stdout and b"secret.jsonl" not in p.stdout
        warnings = sorted(p.stderr.decode().splitlines())
        assert len(warnings) == 2 and "Traceback" not in p.stderr.decode(), warnings
        assert warnings[0].startswith("tuneline: warning: ") and "locked: cannot read this folder" in warnings[0]
        assert "secret.jsonl: cannot read: Permission denied; not checked" in warnings[1]
    finally:
        (folder / "locked").chmod(0o755)
        secret.chmod(0o644)


# --- size --------------------------------------------------------------------------------------------------------


def test_a_huge_line_costs_no_more_memory_than_the_cap(tmp_path):
    """A 1 GB line (a sparse file: nothing is written to disk) is counted, not read into memory: TL007 for it, the
    lines after it are checked, and the process stays far below the file's size."""
    data = tmp_path / "huge.jsonl"
    with data.open("wb") as fh:
        fh.truncate(1 << 30)
        fh.seek(1 << 30)
        fh.write(b"\n" + "\n".join([*good_lines(), "{bad"]).encode() + b"\n")
    probe = (
        "import resource, subprocess, sys; "
        "p = subprocess.run([sys.executable, '-m', 'tuneline', 'check', '--no-summary', sys.argv[1]], "
        "capture_output=True); sys.stdout.write(p.stdout.decode()); "
        "print('exit', p.returncode); print('rss_kb', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    p = subprocess.run([sys.executable, "-c", probe, str(data)], capture_output=True, timeout=120)
    out = p.stdout.decode()
    assert "huge.jsonl:1:1: TL007 This line is 1,073,741,824 bytes, over the limit of 67,108,864 bytes" in out
    assert "huge.jsonl:14:2: TL001" in out and "exit 1" in out
    rss_mb = int(out.rsplit("rss_kb ", 1)[1]) / 1024
    assert rss_mb < 450, f"peak RSS {rss_mb:.0f} MB for a 1 GB line"


def test_line_cap_setting(tmp_path, capsys, monkeypatch):
    long = chat(("user", "x" * 5000), ("assistant", "ok"))
    data = write(tmp_path / "data.jsonl", [*good_lines(), long, long])
    monkeypatch.setenv("TUNELINE_MAX_LINE_BYTES", "4096")
    code, out, _ = run_main(capsys, "check", "--format", "json", str(data))
    doc = json.loads(out)
    found = [(d["code"], d["line"]) for d in doc["files"][0]["diagnostics"] if d["line"]]
    assert found == [("TL007", 13), ("TL007", 14)]  # counted, not parsed: not even a duplicate of each other
    assert code == 1 and doc["files"][0]["examples"] == 12
    monkeypatch.setenv("TUNELINE_MAX_LINE_BYTES", "lots")
    code, out, err = run_main(capsys, "check", str(data))
    assert code == 2 and out == ""
    one_error_line(err, "TUNELINE_MAX_LINE_BYTES must be a number of bytes")


# --- findings that do not come from the engine's line analysis ----------------------------------------------------


PROMPT = b'{"messages": [{"role": "user", "content": "Same question?"}, {"role": "assistant", "content": "A'


def bad_bytes_file(tmp_path: Path) -> Path:
    lines = [line.encode() for line in good_lines()]
    lines.append(PROMPT + b'\xff\xfe"}]}')  # line 13: ff fe inside a string
    lines.append(PROMPT + b'\xfe\xff"}]}')  # line 14: differs only in the bad bytes
    lines.append(PROMPT + b'\xff\xfe"}]}')  # line 15: the same bytes as line 13
    lines[0] = b"\xef\xbb\xbf" + lines[0]  # a BOM
    data = tmp_path / "data.jsonl"
    data.write_bytes(b"\n".join(lines) + b"\n")
    return data


@pytest.mark.parametrize("near", [None, "--near-duplicates=lexical"])
def test_decoding_findings_survive_every_pass_in_every_format(tmp_path, capsys, near):
    data = bad_bytes_file(tmp_path)
    extra = [near] if near else []
    code, out, _ = run_main(capsys, "check", "--format", "json", *extra, str(data))
    assert code == 1
    found = [(d["code"], d["line"], d["column"], d["severity"]) for d in json.loads(out)["files"][0]["diagnostics"]]
    assert ("TL004", 1, 1, "warning") in found  # the BOM
    bad = [f for f in found if f[0] == "TL004" and f[3] == "error"]
    col = len(PROMPT) + 1
    assert bad == [("TL004", 13, col, "error"), ("TL004", 14, col, "error"), ("TL004", 15, col, "error")]
    assert not [f for f in found if f[0] == "TL308"]  # bad bytes make no conversation to conflict with
    assert [(f[0], f[1]) for f in found if f[0] == "TL301"] == [("TL301", 15)]  # byte-identical to line 13 only
    for fmt, needle in (("text", f":13:{col}: TL004"), ("sarif", '"startLine": 13'), ("github", f"line=13,col={col}")):
        code, out, _ = run_main(capsys, "check", "--format", fmt, *extra, str(data))
        assert code == 1 and needle in out, fmt
    # a validation file next to its training file: the overlap pass (TL306) keeps them too
    (tmp_path / "train.jsonl").write_bytes(data.read_bytes())
    valid = tmp_path / "valid.jsonl"
    valid.write_bytes(data.read_bytes())
    code, out, _ = run_main(capsys, "check", "--format", "json", *extra, str(valid))
    found = {(d["code"], d["line"]) for d in json.loads(out)["files"][0]["diagnostics"]}
    assert {("TL004", 1), ("TL004", 13), ("TL004", 14), ("TL306", 2)} <= found and code == 1


def test_lines_too_long_for_a_chunk_stay_in_this_process_with_the_same_results(tmp_path):
    big = "word " * 1_000_000  # 5 MB: above a worker chunk, analysed here instead of pickled
    lines = [ok_line(i) for i in range(3000)]
    lines[10] = chat(("user", big), ("assistant", "ok"))
    lines[2000] = chat(("user", big + "!"), ("assistant", "ok"))
    data = write(tmp_path / "data.jsonl", lines)
    outputs = []
    for jobs in ("1", "2"):  # subprocesses: this test process stays small (children inherit its peak RSS)
        p = run("check", "--format", "json", "--jobs", jobs, str(data))
        outputs.append((p.returncode, json.loads(p.stdout)))
    assert outputs[0] == outputs[1]
    assert ("TL201", 11) in [(d["code"], d["line"]) for d in outputs[0][1]["files"][0]["diagnostics"]]
