"""The shipped TOML files are read from a JSON copy in the user cache: the same values as tomllib's (dates too), a
copy per version of the file, a damaged or unwritable copy only costs a parse, and `tuneline check` answers the same
with an empty cache and a warm one, the warm run importing neither tomllib nor platformdirs. The user cache folder
is platformdirs' own, worked out without importing it on Linux."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import platformdirs
import pytest

from tuneline.analysis import cache_files, shipped_toml
from tuneline.analysis.image_tokens import openai_rule
from tuneline.analysis.models import ModelTable
from tuneline.analysis.targets import SHIPPED, load_providers

from .helpers import chat, check_process

MODELS = SHIPPED.with_name("models.toml")
tomllib = shipped_toml.tomllib()


@pytest.fixture
def cache_home(tmp_path, monkeypatch) -> Path:
    """An empty user cache, and no copy remembered by this process."""
    home = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    monkeypatch.setattr(shipped_toml, "_copies", {})
    return home


def _no_parser():
    raise AssertionError("the copy should have been read")


def _copies(home: Path, stem: str) -> list[Path]:
    return sorted((home / "tuneline").glob(f"toml-{stem}-*.json"))


@pytest.mark.parametrize("path", [SHIPPED, MODELS], ids=lambda p: p.name)
def test_the_copy_reads_as_tomllib_reads_the_file(cache_home, monkeypatch, path):
    expected = tomllib.loads(path.read_text(encoding="utf-8"))
    assert shipped_toml.load(path) == expected  # parsed, and the copy written
    assert len(_copies(cache_home, path.stem)) == 1
    monkeypatch.setattr(shipped_toml, "_copies", {})
    monkeypatch.setattr(shipped_toml, "tomllib", _no_parser)
    assert shipped_toml.load(path) == expected  # from the copy: no parser needed
    assert shipped_toml.load(path) == expected  # from this process's memory
    first, second = shipped_toml.load(path), shipped_toml.load(path)
    first.clear()
    assert second == expected  # each call gets its own value


def test_dates_and_times_come_back_as_dates_and_times(cache_home, tmp_path):
    path = tmp_path / "facts.toml"
    path.write_text(
        'a = 2027-01-06\nb = 2026-11-30T10:20:30Z\nc = 2026-11-30T10:20:30.5\nd = 07:32:00\n[t]\ne = [1979-05-27]\nf = "\\u0000toml:date"\n',
        encoding="utf-8",
    )
    expected = tomllib.loads(path.read_text(encoding="utf-8"))
    assert isinstance(expected["a"], dt.date) and isinstance(expected["b"], dt.datetime)
    cold = shipped_toml.load(path)
    shipped_toml._copies.clear()
    warm = shipped_toml.load(path)
    assert cold == warm == expected
    assert [type(warm[k]) for k in "abcd"] == [dt.date, dt.datetime, dt.datetime, dt.time]
    assert warm["b"].tzinfo is not None and warm["t"]["e"] == [dt.date(1979, 5, 27)]


def test_the_shipped_providers_date_survives(cache_home):
    """providers.toml holds a TOML date (OpenAI's last day for new jobs): read from the copy, it is still one."""
    cold = load_providers(SHIPPED)
    shipped_toml._copies.clear()
    assert load_providers(SHIPPED) == cold
    assert any(isinstance(v, dt.date) for v in _values(shipped_toml.load(SHIPPED)))


def _values(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _values(v)
    elif isinstance(value, list):
        for v in value:
            yield from _values(v)
    else:
        yield value


@pytest.mark.parametrize(
    "damage",
    [b"not json", b"[1, 2]", b'{"a": {"\\u0000toml:date": "not a date"}}', b"\xff\xfe", b"[" * 100_000],
    ids=["not-json", "a-list", "a-bad-date", "not-utf8", "too-deep"],
)
def test_a_damaged_copy_is_parsed_again_and_replaced(cache_home, damage):
    expected = shipped_toml.load(MODELS)
    (copy,) = _copies(cache_home, "models")
    copy.write_bytes(damage)
    shipped_toml._copies.clear()
    assert shipped_toml.load(MODELS) == expected
    assert isinstance(json.loads(copy.read_bytes()), dict)  # written again


def test_an_edited_file_gets_its_own_copy_and_only_the_newest_four_stay(cache_home, tmp_path):
    path = tmp_path / "models.toml"
    written = []
    for limit in range(1, 7):
        path.write_text(f'[models."a"]\nlimit = {limit}\n', encoding="utf-8")
        assert shipped_toml.load(path)["models"]["a"]["limit"] == limit
        (new,) = set(_copies(cache_home, "models")) - set(written)
        written.append(new)
        os.utime(new, ns=(limit * 10**9, limit * 10**9))  # distinct times, whatever the file system's resolution
    assert _copies(cache_home, "models") == sorted(written[-4:])
    path.write_text('[models."a"]\nlimit = 1\n', encoding="utf-8")
    shipped_toml._copies.clear()
    assert shipped_toml.load(path)["models"]["a"]["limit"] == 1  # its copy went: parsed again


def test_an_unwritable_cache_still_reads_the_file(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # the cache folder would be inside a file
    monkeypatch.setattr(shipped_toml, "_copies", {})
    assert shipped_toml.load(MODELS) == tomllib.loads(MODELS.read_text(encoding="utf-8"))
    assert list(tmp_path.iterdir()) == [blocker]  # nothing written, no temporary file left


def test_a_bad_file_still_fails_as_tomllib_fails(cache_home, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("a = \n", encoding="utf-8")
    with pytest.raises(tomllib.TOMLDecodeError):
        shipped_toml.load(path)
    with pytest.raises(FileNotFoundError):
        shipped_toml.load(tmp_path / "missing.toml")
    assert not _copies(cache_home, "bad")


def test_the_engine_tables_are_the_same_from_the_copy(cache_home):
    cold_models, cold_rule = ModelTable().models, openai_rule.__wrapped__()
    shipped_toml._copies.clear()
    assert ModelTable().models == cold_models and openai_rule.__wrapped__() == cold_rule
    assert len(_copies(cache_home, "models")) == 1


def test_check_answers_the_same_cold_and_warm_and_warm_imports_no_toml_parser(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(chat(("user", f"q{i}"), ("assistant", f"a{i}.")) for i in range(5)) + "\n")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    runs = [check_process(path, env=env, python_flags=("-X", "importtime")) for _ in range(2)]
    assert [r.returncode for r in runs] == [1, 1]  # TL304: a small file
    assert json.loads(runs[0].stdout) == json.loads(runs[1].stdout)
    cold, warm = ({line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines()} for r in runs)
    assert "tomllib" in cold
    assert not {"tomllib", "platformdirs", "tempfile"} & warm
    assert len(list((tmp_path / "cache" / "tuneline").glob("toml-*.json"))) == 2


@pytest.mark.parametrize(
    "env",
    [
        {"XDG_CACHE_HOME": "/var/tmp/xdg", "HOME": "/home/u"},
        {"XDG_CACHE_HOME": "/var/tmp/xdg/", "HOME": "/home/u"},
        {"XDG_CACHE_HOME": "relative/cache", "HOME": "/home/u"},
        {"XDG_CACHE_HOME": "", "HOME": "/home/u/"},
        {"HOME": "/"},
        {"HOME": "//srv//u"},
    ],
)
def test_the_cache_folder_is_platformdirs_own(monkeypatch, env):
    for name in ("XDG_CACHE_HOME", "HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert cache_files.user_cache() == Path(platformdirs.user_cache_dir("tuneline"))


def test_no_cache_folder_at_all_still_reads_the_file(cache_home, monkeypatch):
    """platformdirs raises when it finds no home folder: the file is parsed, as before the copy existed."""

    def nowhere():
        raise RuntimeError("could not determine the home directory")

    monkeypatch.setattr(shipped_toml, "user_cache", nowhere)
    assert shipped_toml.load(MODELS) == tomllib.loads(MODELS.read_text(encoding="utf-8"))
