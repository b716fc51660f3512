"""detect-secrets' detectors come from tuneline's cache of their patterns: the same detectors, patterns and order as
detect-secrets' own classes; a damaged cache file is replaced; and `tuneline check` reports the same secrets with an
empty cache and a warm one, the warm run without importing detect-secrets (or `requests`) at all."""

from __future__ import annotations

import inspect
import json
import os
from pathlib import Path

import detect_secrets.plugins as plugins
import pytest
from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
from detect_secrets.plugins.base import RegexBasedDetector
from detect_secrets.plugins.jwt import JwtTokenDetector

from tuneline.analysis import detector_cache
from tuneline.analysis.rules import text_scan

from .helpers import chat, check_process
from .test_secrets import DETECT_SECRETS_SAMPLES, FILLER

EXCLUDED = frozenset(text_scan._EXCLUDED)


@pytest.fixture
def cache_home(tmp_path, monkeypatch) -> Path:
    """An empty user cache for this test (platformdirs follows XDG_CACHE_HOME on Linux)."""
    home = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    return home


def _described(detectors: list[detector_cache.CachedDetector]) -> list[tuple]:
    return [(d.name, d.module, d.secret_type, d.own, [(p.pattern, p.flags) for p in d.denylist]) for d in detectors]


def test_the_cached_detectors_are_detect_secrets_own(cache_home):
    classes = {
        cls.__name__: cls
        for cls in get_mapping_from_secret_type_to_class().values()
        if issubclass(cls, RegexBasedDetector) and cls.__name__ not in EXCLUDED
    }
    cold = detector_cache.load(EXCLUDED)
    (written,) = list(cache_home.rglob("detect-secrets-*.json"))
    warm = detector_cache.load(EXCLUDED)
    assert _described(cold) == _described(warm) == _described(detector_cache.load_imported(EXCLUDED))
    assert {d.name for d in warm} == set(classes) and len(warm) >= 20
    for d in warm:
        cls = classes[d.name]
        real = cls()
        assert d.secret_type == cls.secret_type
        assert [(p.pattern, p.flags) for p in d.denylist] == [(p.pattern, p.flags) for p in real.denylist]
        assert d.own == (cls.analyze_string is not RegexBasedDetector.analyze_string)
        assert inspect.getmodule(cls).__name__ == d.module
    assert [d.name for d in warm if d.own] == ["JwtTokenDetector"]
    assert json.loads(written.read_text()) == [
        {"name": n, "module": m, "secret_type": t, "own": o, "patterns": [list(p) for p in ps]}
        for n, m, t, o, ps in _described(warm)
    ]
    assert plugins  # the package the cache stands in for is the installed one


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "\udcff".encode("utf-8", "surrogatepass"),  # not UTF-8
        json.dumps({"name": "x"}),  # another shape
        json.dumps([{"name": "X", "module": "os", "secret_type": "t", "own": False, "patterns": []}]),  # not a plugin
        json.dumps(
            [
                {
                    "name": "X",
                    "module": "detect_secrets.plugins.x",
                    "secret_type": "t",
                    "own": False,
                    "patterns": [["(unclosed", 0]],
                }
            ]
        ),
    ],
)
def test_a_damaged_cache_file_is_replaced_by_detect_secrets_own_list(cache_home, content):
    expected = _described(detector_cache.load_imported(EXCLUDED))
    detector_cache.load(EXCLUDED)
    (path,) = list(cache_home.rglob("detect-secrets-*.json"))
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert _described(detector_cache.load(EXCLUDED)) == expected
    if "unclosed" not in str(content):  # a well-formed list that does not compile is left for the next run to redo
        assert json.loads(path.read_text())[0]["name"] == expected[0][0]


def test_a_cache_that_cannot_be_written_still_gives_the_detectors(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setattr(detector_cache, "_cache_file", lambda key: blocker / f"detect-secrets-{key}.json")
    assert _described(detector_cache.load(EXCLUDED)) == _described(detector_cache.load_imported(EXCLUDED))
    assert blocker.read_text() == ""


def test_a_detector_that_judges_its_matches_loads_its_class_when_first_used(cache_home):
    (jwt,) = [d for d in detector_cache.load(EXCLUDED) if d.own]
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    real = JwtTokenDetector()
    for line in (f"auth {token}", "auth eyJub3QganNvbg.eyJhIjoxfQ.abc"):  # the second's header is no JSON
        assert list(jwt.analyze_string(line)) == list(real.analyze_string(line))
    assert list(jwt.analyze_string(f"auth {token}")) and not list(
        jwt.analyze_string("auth eyJub3QganNvbg.eyJhIjoxfQ.abc")
    )


def _check(path: Path, env: dict[str, str]) -> tuple[dict, str]:
    """`tuneline check --format json` through the front door, with Python's import log on stderr."""
    done = check_process(path, env=env, python_flags=("-X", "importtime"))
    assert done.returncode == 1
    return json.loads(done.stdout), done.stderr


def test_check_reports_the_same_secrets_cold_and_warm_and_warm_imports_no_detect_secrets(tmp_path, cache_home):
    texts = [text for name, text in DETECT_SECRETS_SAMPLES.items()]
    lines = [chat(("user", t + FILLER), ("assistant", "ok")) for t in texts]
    lines.append(chat(("user", "see https://docs.example.com/v2/guide-2024-release-notes.html"), ("assistant", "ok")))
    path = tmp_path / "secrets.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_home)}
    cold, cold_log = _check(path, env)
    warm, warm_log = _check(path, env)
    assert cold == warm
    found = [f for f in warm["files"][0]["diagnostics"] if f["code"] == "TL401"]
    assert {f["line"] for f in found} == set(range(1, len(texts) + 1))  # every detector's sample, by a detector
    assert "detect_secrets.plugins.base" in cold_log
    imported = {line.rsplit("|", 1)[-1].strip() for line in warm_log.splitlines() if line.startswith("import time:")}
    assert "detect_secrets" not in imported and "requests" not in imported


def test_only_the_newest_copies_of_other_installs_stay(cache_home):
    """A file per detect-secrets install (its key holds the plugin files' times): writing one keeps the four newest,
    so the cache folder does not grow by a file for every virtual environment ever made."""
    folder = cache_home / "tuneline"
    folder.mkdir(parents=True)
    others = [folder / f"detect-secrets-{i:032x}.json" for i in range(5)]
    for i, path in enumerate(others):
        path.write_text("[]", encoding="utf-8")
        os.utime(path, ns=((i + 1) * 10**9, (i + 1) * 10**9))
    detector_cache.load(EXCLUDED)
    kept = sorted(folder.glob("detect-secrets-*.json"))
    assert len(kept) == 4 and set(others[-3:]) <= set(kept)  # the new one and the three newest others
    assert len(detector_cache.load(EXCLUDED)) >= 20  # its own copy is among them and still reads
