"""A user's model rows (`[models."NAME"]` in tuneline.toml or pyproject, the `models` editor setting, a
`models_file`) through `tuneline check`: every field is checked, and a bad one is one line on stderr naming the
file and the key, exit 2. Before, a non-numeric `limit` crashed with a traceback from `int(...)`, a string `aliases`
became one alias per character, and a typo such as `limt` was silently ignored (the default limit applied)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tuneline.cli import main

LINE = json.dumps({"messages": [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hello."}]})


def _folder(tmp_path: Path, config: str) -> Path:
    (tmp_path / "tuneline.toml").write_text(config, encoding="utf-8")
    data = tmp_path / "data.jsonl"
    data.write_text(LINE + "\n", encoding="utf-8")
    return data


def test_a_non_numeric_limit_is_one_line_and_exit_2_not_a_traceback(tmp_path):
    data = _folder(tmp_path, '[models."gpt-4o-mini"]\nlimit = "lots"\n')
    done = subprocess.run(
        [sys.executable, "-m", "tuneline", "check", str(data)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f'tuneline: error: {tmp_path / "tuneline.toml"}: `models."gpt-4o-mini".limit` must be a whole number of '
        "tokens above 0, such as 65536, not 'lots'"
    ]


ROW = '[models."gpt-4o-mini"]\n'
BAD = [
    (ROW + "limit = 0\n", ".limit` must be a whole number of tokens above 0, such as 65536, not 0"),
    (ROW + "limit = 8192.5\n", ".limit` must be a whole number of tokens above 0, such as 65536, not 8192.5"),
    (ROW + "limit = true\n", ".limit` must be a whole number of tokens above 0, such as 65536, not True"),
    (
        ROW + 'price = "3.00"\n',
        ".price` must be a number of US dollars per 1M training tokens, such as 3.0, not '3.00'",
    ),
    (ROW + "price = -1\n", ".price` must be a number of US dollars per 1M training tokens, such as 3.0, not -1"),
    (ROW + 'shutdown = "soon"\n', ".shutdown` must be a date (YYYY-MM-DD), such as 2027-01-14, not 'soon'"),
    (ROW + "shutdown = 2027-01-14T10:00:00\n", ".shutdown` must be a date without a time, such as 2027-01-14"),
    (ROW + 'aliases = "mini"\n', ".aliases` must be a list of model names, such as [\"gpt-4o-mini\"], not 'mini'"),
    (ROW + "provider = 5\n", '.provider` must be a name, such as "openai", not 5'),
    (ROW + 'encoding = " "\n', ".encoding` must not be empty"),
    (ROW + "source = 1\n", ".source` must be text, not 1"),
    (ROW + "as_of = 1\n", ".as_of` must be the date the facts were read (YYYY-MM-DD), not 1"),
    (ROW + "vision = 3\n", ".vision` must be a table of providers, such as { openai = true }, not 3"),
    (
        ROW + 'vision = { openai = { value = true, verified = "yes" } }\n',
        ".vision.openai.verified` must be true or false, not 'yes'",
    ),
    (
        ROW + "limt = 5\n",
        ".limt` is not a model key (did you mean limit?); use provider, encoding, limit, price, shutdown, source, "
        "as_of, aliases, vision, tokenizer",
    ),
    (
        ROW + 'tokenizer = "./my-tokenizer"\n',
        '.tokenizer` must be a Hugging Face repo id, such as "Qwen/Qwen2.5-7B-Instruct" (a folder goes in the '
        "`tokenizer` setting), not './my-tokenizer'",
    ),
    (
        ROW + 'tokenizer = { value = "a/b", verified = 1 }\n',
        ".tokenizer.verified` must be true or false, not 1",
    ),
]


@pytest.mark.parametrize(
    ("config", "problem"), BAD, ids=[b[0].split("\n")[1].split(" ")[0] + str(i) for i, b in enumerate(BAD)]
)
def test_every_field_of_a_model_row_is_checked(tmp_path, capsys, config, problem):
    data = _folder(tmp_path, config)
    assert main(["check", str(data)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [f'tuneline: error: {tmp_path / "tuneline.toml"}: `models."gpt-4o-mini"{problem}']


def test_a_row_that_is_not_a_table_and_a_bad_models_file(tmp_path, capsys):
    data = _folder(tmp_path, '[models]\n"gpt-4o-mini" = 5\n')
    assert main(["check", str(data)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f'tuneline: error: {tmp_path / "tuneline.toml"}: `models."gpt-4o-mini"` must be a table of model facts '
        "(provider, encoding, limit, price, shutdown, source, as_of, aliases, vision, tokenizer), not 5"
    ]
    models = tmp_path / "house.toml"
    (tmp_path / "tuneline.toml").write_text('models_file = "house.toml"\n', encoding="utf-8")
    for text, problem in [
        ('[models."house"]\nlimit = -3\n', '`models."house".limit` must be a whole number of tokens above 0'),
        ('[model."house"]\nlimit = 3\n', '`model` is not a table a models file holds; write [models."NAME"] tables'),
        ('[models."house"\n', "the models file is not valid TOML (Expected ']'"),
        ("", 'the models file has no [models."NAME"] tables'),
    ]:
        models.write_text(text, encoding="utf-8")
        assert main(["check", str(data)]) == 2
        (line,) = capsys.readouterr().err.splitlines()
        assert line.startswith(f"tuneline: error: {models}: {problem}"), line
    models.unlink()
    assert main(["check", str(data)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"tuneline: error: {models}: cannot read the models file (No such file or directory)"
    ]


def test_good_rows_still_apply(tmp_path, capsys):
    """Dates as TOML dates or strings, `nan` for an unknown price, an alias as the row's name, a new model."""
    config = (
        '[models."gpt-4o-mini"]\nlimit = 5\nprice = nan\n\n'
        '[models."house-model"]\nprovider = "openai"\nlimit = 100\nprice = 2.5\nshutdown = 2099-01-01\n'
        'aliases = ["house"]\nas_of = 2026-11-30\nvision = { openai = { value = true, source = "our tests" } }\n'
    )
    data = _folder(tmp_path, config)
    assert main(["check", "--format", "json", str(data)]) in (0, 1)
    report = json.loads(capsys.readouterr().out)["files"][0]
    assert report["target"]["model"] == "gpt-4o-mini-2024-07-18"
    assert [d["code"] for d in report["diagnostics"] if d["code"] == "TL201"] == ["TL201"]  # over the 5-token limit
    assert main(["check", "--format", "json", "--model", "house", str(data)]) in (0, 1)
    report = json.loads(capsys.readouterr().out)["files"][0]
    assert report["target"]["model"] == "house-model" and not [d for d in report["diagnostics"] if d["code"] == "TL201"]
