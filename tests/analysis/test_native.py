"""The compiled per-line engine (`analysis/native.py`): used only when built from these sources, and the same
answers as the Python modules it is built from.

Why: a compiled module that outlived an edit of its source would run old rules with no sign of it, and a compiled
function that differs from its source in any answer is a finding that changes by machine. CI builds the engine
(`scripts/setup`) and runs the whole suite on it; these tests compare it with the Python modules on hostile lines
and prove that a stale build is never used. Without a build (no C compiler) they skip, unless
TUNELINE_EXPECT_NATIVE=1 says the build must be there (`scripts/test` sets it where a compiler is).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tuneline.analysis import native

from .helpers import CORPUS, chat

REPO = Path(__file__).resolve().parents[2]
PROBE = "import tuneline.analysis, tuneline.analysis.native as n; print(n.in_use())"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TUNELINE_NATIVE", "PYTHONPATH")}
    return {**env, **extra}


def _in_use(**env: str) -> bool:
    out = subprocess.run([sys.executable, "-c", PROBE], env=_env(**env), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip() == "True"


@pytest.fixture(scope="module")
def built() -> None:
    if not _in_use():
        if os.environ.get("TUNELINE_EXPECT_NATIVE") == "1":
            pytest.fail(
                "TUNELINE_EXPECT_NATIVE=1 but the compiled engine is not in use: run python -m tuneline.native_build"
            )
        pytest.skip("no compiled engine built for these sources (python -m tuneline.native_build)")


def _stamp() -> dict[str, object]:
    fingerprint = native.fingerprint()
    return {**fingerprint, "stats": native.stats(native.sources())}


def test_a_build_matches_only_the_sources_it_was_built_from() -> None:
    stamp = _stamp()
    assert native._fresh(stamp)
    rel = native.MODULES[0]
    # an edited source: another hash, and another size or mtime
    edited = json.loads(json.dumps(stamp))
    edited["sources"][rel] = "0" * 64
    edited["stats"][rel] = [0, 0]
    assert not native._fresh(edited)
    # the same bytes with another mtime (a fresh clone, a touch): hashed, and still the build's
    touched = json.loads(json.dumps(stamp))
    touched["stats"][rel] = [0, 0]
    assert native._fresh(touched)
    # another interpreter's extensions, another module list, a source added or removed since the build
    assert not native._fresh({**stamp, "ext_suffix": ".cpython-399-x86_64-linux-gnu.so"})
    assert not native._fresh({**stamp, "modules": list(native.MODULES[1:])})
    fewer = json.loads(json.dumps(stamp))
    del fewer["sources"]["analysis/types.py"]
    assert not native._fresh(fewer)
    # the C sources and headers count as the Python ones do: an edit of any makes the build stale
    assert all(rel in stamp["sources"] for _, rel in native.C_MODULES)  # type: ignore[operator]
    headers = [rel for rel in stamp["sources"] if rel.endswith(".h")]  # type: ignore[union-attr]
    assert "neardup/word_hash.h" in headers  # what the C modules include counts too
    for c_rel in [rel for _, rel in native.C_MODULES] + headers:
        c_edited = json.loads(json.dumps(stamp))
        c_edited["sources"][c_rel] = "0" * 64
        c_edited["stats"][c_rel] = [0, 0]
        assert not native._fresh(c_edited)
    assert not native._fresh({k: v for k, v in stamp.items() if k != "stats"})


def _hostile(tmp_path: Path) -> Path:
    """Lines where a compiled function could answer differently: odd JSON, deep nesting on both sides of the
    parsers' limits, lone surrogates, every content rule's bait, and the shared corpus files' first lines."""
    lines = [
        chat(("user", "Call me at +1 415 555 0100 or mail jo@example.com"), ("assistant", "Card 4111 1111 1111 1111")),
        chat(("user", "Summarise {text}"), ("assistant", "```python\nprint(1)\n")),
        chat(("user", "Write JSON"), ("assistant", '{"a": [1, 2')),
        chat(("user", "key sk-proj-" + "A1b2" * 12), ("assistant", "<|endoftext|> [INST] done")),
        chat(("user", "hé \u2028 😀"), ("assistant", "Sure! As an AI language model, I cannot"), system=None),
        '{"messages": [{"role": "user", "content": "\\ud800"}, {"role": "assistant", "content": "x"}]}',
        '{"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}]}, {"role": "assistant"}]}',
        '{"prompt": "p", "chosen": [{"role": "assistant", "content": "a"}], "rejected": [{"role": "assistant"}]}',
        '{"a": NaN, "b": 1e400}',
        "[" * 995 + "]" * 995,
        "[" * 100_000,
        '{"messages": ' + "[" * 5000 + "]" * 5000 + "}",
        "\ufeff" + chat(("user", "bom"), ("assistant", "ok")),
        "",
        "not json",
    ]
    if CORPUS.exists():
        for path in sorted(CORPUS.glob("*.jsonl")):
            with path.open(encoding="utf-8", errors="surrogateescape") as fh:
                lines.extend(line.rstrip("\n") for _, line in zip(range(40), fh))
    path = tmp_path / "hostile.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogateescape")
    return path


def _check(path: Path, **env: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "tuneline", "check", "--format", "json", "--jobs", "1", str(path)],
        env=_env(**env),
        capture_output=True,
        timeout=300,
    )


def test_check_answers_the_same_compiled_and_as_python(built: None, tmp_path: Path) -> None:
    path = _hostile(tmp_path)
    compiled, python = _check(path), _check(path, TUNELINE_NATIVE="0")
    assert compiled.returncode == python.returncode == 1, (compiled.stderr, python.stderr)
    assert compiled.stdout == python.stdout
    codes = {d["code"] for f in json.loads(compiled.stdout)["files"] for d in f["diagnostics"]}
    assert {"TL001", "TL501", "TL502"} <= codes, codes  # the hostile lines did reach the rules
    assert not _in_use(TUNELINE_NATIVE="0")


def test_an_edited_source_turns_the_build_off(built: None, tmp_path: Path) -> None:
    """A copy of the package: unchanged, the build (made from the same bytes) runs it; with one analysis file edited,
    the Python modules do, and `check` still answers."""
    copy = tmp_path / "tuneline"
    shutil.copytree(native.PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert _in_use(PYTHONPATH=str(tmp_path))
    rules = copy / "analysis" / "rules" / "content_lines.py"
    rules.write_text(rules.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert not _in_use(PYTHONPATH=str(tmp_path))
    line = chat(("user", "Mail jo@example.com"), ("assistant", "ok"))
    (tmp_path / "one.jsonl").write_text(line + "\n", encoding="utf-8")
    done = _check(tmp_path / "one.jsonl", PYTHONPATH=str(tmp_path))
    assert done.returncode in (0, 1), done.stderr
    assert json.loads(done.stdout)["files"][0]["path"].endswith("one.jsonl")


def test_the_build_without_mypy_says_so_in_one_line_and_keeps_what_is_there(tmp_path: Path) -> None:
    """`scripts/setup` runs the build on every machine: one without mypy (or a compiler) gets one sentence, exit 1,
    and whatever build was in place stays (with --force it would otherwise be replaced)."""
    shadow = tmp_path / "shadow"
    (shadow / "mypyc").mkdir(parents=True)
    (shadow / "mypyc" / "__init__.py").write_text("raise ImportError('mypyc is not here')\n", encoding="utf-8")
    stamp = native.build_dir() / native.STAMP
    before = stamp.read_bytes() if stamp.exists() else None
    done = subprocess.run(
        [sys.executable, "-m", "tuneline.native_build", "--force"],
        env=_env(PYTHONPATH=str(shadow)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "compiled engine not built: mypy is not installed (pip install 'tuneline[native]'); "
        "tuneline runs its Python modules"
    ]
    assert (stamp.read_bytes() if stamp.exists() else None) == before


def test_a_build_that_cannot_be_written_says_why(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys) -> None:
    """A read-only site-packages: one sentence naming the folder, not a traceback."""
    from tuneline import native_build

    def refuse(target: Path) -> str | None:
        raise PermissionError(13, "Permission denied", str(target))

    monkeypatch.setattr(native_build, "_build_into", refuse)
    monkeypatch.setattr(native, "stamp_matches", lambda: False)
    pytest.importorskip("mypyc")
    assert native_build.build() == 1
    err = capsys.readouterr().err
    assert err.startswith("compiled engine not built: Permission denied (") and err.count("\n") == 1, err
