"""Near duplicates and train/validation leakage: planted pairs are found, distinct same-topic examples are not."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tuneline.analysis import Dataset, Engine, Settings
from tuneline.neardup import NearDuplicateDetector
from tuneline.neardup.cache import EmbeddingCache
from tuneline.neardup.checks import near_duplicate_findings
from tuneline.neardup.embedding_models import semantic_available
from tuneline.neardup.pairing import training_partner, validation_partners
from tuneline.neardup.texts import example_text

from .planted import NUMBERS, NUMBERS_SOURCE, PARAPHRASE, REORDERED, REPO, SUPPORT, SYSTEM, chat

needs_embed = pytest.mark.skipif(not semantic_available(), reason="the embed extra is not installed")


def planted() -> tuple[list[str], dict[int, int]]:
    lines = [*SUPPORT, PARAPHRASE, REORDERED, NUMBERS]
    return lines, {61: 1, 62: 2, 63: NUMBERS_SOURCE}


def found_pairs(lines: list[str], mode: str, cache_dir: Path | None = None) -> dict[int, int]:
    cache = EmbeddingCache(cache_dir / "e.sqlite") if cache_dir else None
    dataset = Dataset(Engine(Settings()), lines)
    found = near_duplicate_findings(dataset, NearDuplicateDetector(mode, cache=cache))
    return {f.line: f.related[0].line for f in found}


def test_example_text_leaves_out_the_system_prompt():
    text = example_text(SUPPORT[1])
    assert SYSTEM not in text and "refund" in text
    assert example_text("") is None and example_text("{bad") is None and example_text("[1]") is None


def test_lexical_tier_finds_changed_numbers_and_reordered_sentences_only():
    lines, expected = planted()
    pairs = found_pairs(lines, "lexical")
    assert pairs[63] == expected[63]
    assert pairs[62] == expected[62]
    assert set(pairs) == {62, 63}  # the paraphrase shares too few words; nothing among the distinct examples


@needs_embed
def test_semantic_tier_finds_paraphrases_too_and_no_same_topic_pairs(tmp_path):
    lines, expected = planted()
    assert found_pairs(lines, "semantic", tmp_path) == expected


@needs_embed
def test_embeddings_are_cached_by_content(tmp_path):
    detector = NearDuplicateDetector("semantic", cache=EmbeddingCache(tmp_path / "e.sqlite"))
    calls: list[int] = []
    encode = detector.embedder.model.encode
    detector.embedder.model.encode = lambda texts, **kw: calls.append(len(texts)) or encode(texts, **kw)
    detector.update([(i, example_text(line)) for i, line in enumerate(SUPPORT)])
    assert sum(calls) == 61
    detector.update([(5, example_text(PARAPHRASE))])  # one edited line: one new embedding
    assert sum(calls) == 62
    again = NearDuplicateDetector("semantic", cache=EmbeddingCache(tmp_path / "e.sqlite"))
    again.embedder.model.encode = lambda texts, **kw: calls.append(len(texts)) or encode(texts, **kw)
    again.update([(i, example_text(line)) for i, line in enumerate(SUPPORT)])
    assert sum(calls) == 62  # a new process reads them from disk


def test_cache_writes_still_running_finish_before_a_fork_and_before_a_read(tmp_path):
    """`put_matrix` writes on a thread that may still run when the command line's search forks: the fork waits for
    it (no thread holding SQLite and the cache's lock is copied into a child), and a read sees every write."""
    import os
    import sqlite3

    import numpy as np

    cache = EmbeddingCache(tmp_path / "e.sqlite")
    keys = [bytes([i % 256, i // 256]) * 10 for i in range(3000)]
    vectors = np.random.default_rng(0).standard_normal((3000, 16)).astype(np.float32)
    for start in range(0, 3000, 500):
        cache.put_matrix(keys[start : start + 500], vectors[start : start + 500])
    assert cache._writer is not None
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    assert cache._writer is None
    with sqlite3.connect(tmp_path / "e.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM vectors").fetchone() == (3000,)
    cache.put_matrix(keys[:1], vectors[1:2])  # rewritten, still in flight
    found, read = cache.get_matrix(keys[:2])
    assert found == keys[:2] and np.allclose(read, vectors[[1, 1]], atol=1e-2)
    cache.flush()


@needs_embed
@pytest.mark.parametrize("command", ["check", "dedupe"])
def test_the_command_has_written_every_vector_when_it_returns(tmp_path, command):
    """The vectors of a whole file are written while its search runs; `main` waits for the writes before it
    returns (and so before `check` ends its process at once, `cli.run`). Each write is slowed down here so that
    they are still running when the report is out; the vectors are counted right after `main` returned, in the same
    process, before the interpreter's own exit could wait for them."""
    lines, _ = planted()
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(lines) + "\n")
    argv = ["check", "--format", "json"] if command == "check" else ["dedupe", "-o", str(tmp_path / "out.jsonl")]
    script = (
        "import os, sqlite3, sys, time\n"
        "from tuneline.neardup import cache\n"
        "write = cache.EmbeddingCache._write\n"
        "cache.EmbeddingCache._write = lambda self, *a: (time.sleep(1.5), write(self, *a))[1]\n"
        "from tuneline.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "(count,) = sqlite3.connect(cache.default_path()).execute('SELECT COUNT(*) FROM vectors').fetchone()\n"
        "print(f'vectors: {count}', file=sys.stderr)\n"
        "os._exit(code)\n"
    )
    args = [sys.executable, "-c", script, *argv, "--near-duplicates=semantic", str(data)]
    done = subprocess.run(args, capture_output=True, timeout=300, env=cache_home(tmp_path))
    assert done.returncode in (0, 1), done.stderr
    distinct = len({t for line in lines if (t := example_text(line))})
    assert f"vectors: {distinct}".encode() in done.stderr, done.stderr


@needs_embed
def test_a_cache_write_that_fails_is_one_warning_and_the_report_stands(tmp_path):
    """A vector write that fails once the report is out (a cache locked by another process past SQLite's timeout)
    costs the next run time, not this run its report: `check` prints the report, one warning line, its usual
    exit code."""
    lines, _ = planted()
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(lines) + "\n")
    script = (
        "import sqlite3, sys\n"
        "from tuneline.neardup import cache\n"
        "def locked(self, *a):\n"
        "    raise sqlite3.OperationalError('database is locked')\n"
        "cache.EmbeddingCache._write = locked\n"
        "from tuneline.cli import run\n"
        "sys.argv = ['tuneline', *sys.argv[1:]]\n"
        "run()\n"
    )
    args = [sys.executable, "-c", script, "check", "--format", "json", "--near-duplicates=semantic", str(data)]
    done = subprocess.run(args, capture_output=True, timeout=300, env=cache_home(tmp_path))
    assert done.returncode in (0, 1) and b'"TL302"' in done.stdout
    assert done.stderr.decode().splitlines() == [
        "tuneline: warning: the embedding cache was not written: database is locked"
    ]


def test_incremental_update_matches_fresh_detection():
    lines, _ = planted()
    detector = NearDuplicateDetector("lexical")
    detector.update([(i, example_text(line)) for i, line in enumerate(lines)])
    detector.update([(63, None), (10, example_text(NUMBERS))])
    fresh = NearDuplicateDetector("lexical")
    fresh.update([(i, example_text(line)) for i, line in enumerate(lines) if i != 63] + [(10, example_text(NUMBERS))])
    assert [(p.a, p.b) for p in detector.pairs()] == [(p.a, p.b) for p in fresh.pairs()]


def test_pairing_by_common_names(tmp_path):
    for name in ("train.jsonl", "valid.jsonl", "chat_train.jsonl", "chat_val.jsonl", "other.jsonl"):
        (tmp_path / name).write_text("")
    assert validation_partners(tmp_path / "train.jsonl") == [tmp_path / "valid.jsonl"]
    assert validation_partners(tmp_path / "chat_train.jsonl") == [tmp_path / "chat_val.jsonl"]
    assert training_partner(tmp_path / "valid.jsonl") == tmp_path / "train.jsonl"
    assert training_partner(tmp_path / "chat_val.jsonl") == tmp_path / "chat_train.jsonl"
    assert training_partner(tmp_path / "other.jsonl") is None


def cache_home(tmp_path: Path) -> dict[str, str]:
    """An environment whose user cache is empty but for the default model, copied from this machine's cache: a
    `check` in it then starts with no embeddings, and does not distil the model again (~25 s)."""
    import os
    import shutil

    from tuneline.neardup.embedding_models import static_model_dir

    home = tmp_path / "cache"
    if semantic_available():
        model = static_model_dir()
        if not (model / "modules.json").exists():
            NearDuplicateDetector("semantic")  # distils it once, into this machine's cache
        shutil.copytree(model, home / "tuneline" / "models" / model.name)
    return {**os.environ, "XDG_CACHE_HOME": str(home), "HF_HUB_OFFLINE": "1"}


def cli(*args: str, cwd: Path = REPO, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tuneline", *args], cwd=cwd, capture_output=True, timeout=300, env=env)


def test_cli_reports_train_validation_overlap(tmp_path):
    (tmp_path / "train.jsonl").write_text("\n".join(SUPPORT[:40]) + "\n")
    leaked = SUPPORT[5].replace("  ", " ")
    near = chat(
        "How much storage does the free plan include?",
        "The free plan includes 25 GB shared across files, photos and backups.",
    )
    (tmp_path / "valid.jsonl").write_text("\n".join([*SUPPORT[40:], leaked, near]) + "\n")
    doc = json.loads(cli("check", "--format", "json", str(tmp_path / "valid.jsonl")).stdout)
    overlap = [d for d in doc["files"][0]["diagnostics"] if d["code"] == "TL306"]
    assert [(d["line"], d["severity"]) for d in overlap] == [(22, "error")]
    assert overlap[0]["related"][0]["line"] == 6 and "train.jsonl" in overlap[0]["related"][0]["message"]
    doc = json.loads(
        cli("check", "--format", "json", "--near-duplicates=lexical", str(tmp_path / "valid.jsonl")).stdout
    )
    overlap = [d for d in doc["files"][0]["diagnostics"] if d["code"] == "TL306"]
    assert [d["line"] for d in overlap] == [22, 23]


def test_cli_near_duplicates_flag(tmp_path):
    lines, _ = planted()
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(lines) + "\n")
    doc = json.loads(cli("check", "--format", "json", "--near-duplicates=lexical", str(data)).stdout)
    near = {d["line"]: d["related"][0]["line"] for d in doc["files"][0]["diagnostics"] if d["code"] == "TL302"}
    assert near == {63: 3, 64: NUMBERS_SOURCE + 1}


def test_a_lone_surrogate_is_embedded_not_a_traceback(tmp_path):
    """A JSON "\\ud800" escape reads as a lone surrogate, which the Rust tokenizer refuses (it raised TypeError and
    `check` printed a traceback, found by review): it is embedded as U+FFFD, and its near duplicate is found."""
    if not semantic_available():
        pytest.skip("the embed extra is not installed")
    base = "Our premium plan includes priority support, daily backups and a dedicated account manager for teams."
    fresh = __import__("uuid").uuid4().hex  # texts no earlier run embedded: the cache cannot answer for them
    lines = [*SUPPORT[:20], chat(f"What does the premium plan include for teams ({fresh})?", base)]
    lines.append(chat(f"What does the premium plan include for \ud800 teams ({fresh})?", base))
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(lines) + "\n")
    for mode in ("semantic", "lexical"):
        p = cli("check", "--format", "json", f"--near-duplicates={mode}", str(data))
        assert b"Traceback" not in p.stderr and p.stderr == b"", p.stderr[-500:]
        doc = json.loads(p.stdout)
        near = {d["line"]: d["related"][0]["line"] for d in doc["files"][0]["diagnostics"] if d["code"] == "TL302"}
        assert near == {22: 21}, (mode, near)


def test_dedupe_keeps_the_first_copy_and_never_overwrites_by_default(tmp_path):
    src = tmp_path / "in.jsonl"
    lines, _ = planted()
    src.write_text("\n".join([*lines, lines[4]]) + "\n")
    before = src.read_bytes()
    p = cli("dedupe", str(src), "-o", str(tmp_path / "out.jsonl"), "--near-duplicates=lexical")
    assert p.returncode == 0, p.stderr
    out = (tmp_path / "out.jsonl").read_text().splitlines()
    assert out == [line for i, line in enumerate(lines) if i not in (62, 63)]
    assert b"dropped" in p.stdout and b"exact duplicate of line 5" in p.stdout
    assert src.read_bytes() == before
    refused = cli("dedupe", str(src), "-o", str(src))
    assert refused.returncode == 2 and b"--in-place" in refused.stderr
    assert cli("dedupe", str(src), "--in-place").returncode == 0
    assert len(src.read_text().splitlines()) == len(lines)


def test_unavailable_hub_model_is_one_clear_sentence(tmp_path):
    if not semantic_available():
        pytest.skip("the embed extra is not installed")
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(SUPPORT) + "\n")
    (tmp_path / "tuneline.toml").write_text('embedding_model = "acme/no-such-model"\n')
    env = {**__import__("os").environ, "HF_HUB_OFFLINE": "1"}
    p = cli("check", "--near-duplicates=semantic", str(data), cwd=tmp_path, env=env)
    assert p.returncode == 2
    assert b"cannot load embedding model 'acme/no-such-model'" in p.stderr and b"Traceback" not in p.stderr


def test_validation_file_setting_pairs_files_and_never_a_file_with_itself(tmp_path):
    (tmp_path / "data.jsonl").write_text("\n".join(SUPPORT[:40]) + "\n")
    (tmp_path / "holdout.jsonl").write_text("\n".join([*SUPPORT[40:], SUPPORT[5]]) + "\n")
    (tmp_path / "tuneline.toml").write_text('validation_file = "holdout.jsonl"\n')

    def overlap(*names: str) -> dict[str, list[int]]:
        doc = json.loads(cli("check", "--format", "json", *names, cwd=tmp_path).stdout)
        return {f["path"]: [d["line"] for d in f["diagnostics"] if d["code"] == "TL306"] for f in doc["files"]}

    both = overlap("holdout.jsonl", "data.jsonl")
    assert both == {"holdout.jsonl": [22], "data.jsonl": []}
    assert overlap("holdout.jsonl") == {"holdout.jsonl": []}  # alone: no training file known, no self-comparison


def test_lexical_scores_estimate_the_jaccard_of_the_shingle_sets():
    from tuneline.neardup.lexical import LexicalIndex, shingles

    lines, expected = planted()
    texts = {i: example_text(line) for i, line in enumerate(lines)}
    index = LexicalIndex(0.0)
    index.add_many(texts.items())
    for later in (62, 63):  # the pairs that share most shingles (the paraphrase shares too few to meet in a band)
        earlier = expected[later]
        a, b = shingles(texts[later]), shingles(texts[earlier])
        score = dict(index.neighbours(later)).get(earlier, 0.0)
        assert abs(score - len(a & b) / len(a | b)) < 0.2  # 64 slots: a standard error of about 0.06


def test_the_texts_format_names_what_example_text_makes_of_lines():
    """Whole-file pairs are stored under the file's lines and `TEXTS_FORMAT`: when `example_text`'s output for this
    sample changes, so must `TEXTS_FORMAT` (else a warm check would answer with the pairs of the old texts). Then
    record the new digest here."""
    import hashlib

    from tuneline.neardup.texts import TEXTS_FORMAT

    files = sorted((REPO / "examples").glob("*.jsonl"))
    sample = [line for path in files for line in path.read_text(encoding="utf-8").splitlines()]
    sample += [line for line in planted()[0]]
    digest = hashlib.sha256(json.dumps([example_text(line) for line in sample]).encode()).hexdigest()
    assert (TEXTS_FORMAT, digest) == ("texts-v1", EXAMPLE_TEXTS_DIGEST)


EXAMPLE_TEXTS_DIGEST = "21ff5409a5011d8842aa94cec659478c4d85c18350cd14624c6ccb9a8cd449a1"


def test_plain_chat_lines_take_the_fast_path_to_the_same_text(monkeypatch):
    from tuneline.neardup import texts as module

    files = sorted((REPO / "examples").glob("*.jsonl"))
    sample = [line for path in files for line in path.read_text(encoding="utf-8").splitlines()]
    sample += [
        json.dumps({"messages": [{"role": "user", "content": " a\\n b "}, {"role": "assistant", "content": None}]}),
        json.dumps({"messages": [{"role": "assistant", "content": "x", "tool_calls": [{"id": "1"}]}]}),
        json.dumps({"messages": [{"role": "system", "content": "s"}], "system": "bedrock?"}),
        json.dumps({"messages": "not a list"}),
    ]
    fast = [example_text(line) for line in sample]
    monkeypatch.setattr(module, "_plain_chat_text", lambda obj: False)
    assert [example_text(line) for line in sample] == fast


@needs_embed
def test_a_file_searched_before_takes_its_stored_pairs_without_reading_a_vector(tmp_path, monkeypatch):
    """A warm `check --near-duplicates` of an unchanged file: the pairs stored under its lines answer before any
    text is read; a file with other lines and the same texts takes the search result stored under the examples'
    content keys before any vector is read or embedded; the same findings each time (images still keep pairs
    apart); a changed file searches again."""
    from .test_image_key import data_url, vision

    bike = "A red bicycle leaning on a wall next to a green door, with a basket of apples on its rack."
    lines, expected = planted()
    lines = [*lines, vision(data_url(b"\x89PNG one"), bike), vision(data_url(b"\x89PNG two"), bike)]

    texts_read = []

    def findings(
        cache_dir: Path, edit: bool = False, spaced: bool = False
    ) -> tuple[list[tuple[int, int, str]], int, int]:
        cache = EmbeddingCache(cache_dir / "e.sqlite")
        detector = NearDuplicateDetector("semantic", cache=cache)
        reads, encoded = [], []
        get_matrix, encode = cache.get_matrix, detector.embedder.model.encode
        cache.get_matrix = lambda keys, dim=None: reads.append(len(keys)) or get_matrix(keys, dim)
        detector.embedder.model.encode = lambda texts, **kw: encoded.append(len(texts)) or encode(texts, **kw)
        text = [*lines[:-1], lines[-1].replace("apples", "pears")] if edit else lines
        if spaced:  # other lines, the same example texts
            text = [line + " " for line in text]
        del texts_read[:]
        found = near_duplicate_findings(Dataset(Engine(Settings()), text), detector)
        return [(f.line, f.related[0].line, f.message) for f in found], len(reads), sum(encoded)

    from tuneline.neardup import checks

    all_texts = checks._all_texts
    monkeypatch.setattr(checks, "_all_texts", lambda lines, processes: texts_read.append(1) or all_texts(lines, 1))
    cold, cold_reads, cold_encoded = findings(tmp_path)
    assert {line: other for line, other, _ in cold} == expected  # the two pictures' examples are not paired
    assert (cold_reads, cold_encoded) == (1, len(lines))  # one look-up that finds nothing, then every text embedded
    warm, warm_reads, warm_encoded = findings(tmp_path)
    # the same lines: the stored final pairs answer before a text is read
    assert warm == cold and (warm_reads, warm_encoded) == (0, 0) and not texts_read
    # other lines with the same texts: the texts are read, and the search result stored under them answers
    spaced, spaced_reads, spaced_encoded = findings(tmp_path, spaced=True)
    assert spaced == cold and (spaced_reads, spaced_encoded) == (0, 0) and texts_read
    edited, edited_reads, edited_encoded = findings(tmp_path, edit=True)
    assert edited_reads == 1 and edited_encoded == 1
    assert edited == findings(tmp_path / "fresh", edit=True)[0]  # the same as searching with no cache at all


@needs_embed
def test_a_damaged_stored_result_is_searched_again(tmp_path):
    """A stored search result whose rows are out of range (a damaged cache) is ignored, not a crash."""
    import sqlite3

    lines, expected = planted()

    def found() -> dict[int, int]:
        return found_pairs(lines, "semantic", tmp_path)

    assert found() == expected
    with sqlite3.connect(tmp_path / "e.sqlite") as db:
        (count,) = db.execute("SELECT COUNT(*) FROM results").fetchone()
        bad = (10**6).to_bytes(8, "little") * 2 + b"\0" * 4  # one pair, rows far past the file's
        db.execute("UPDATE results SET data = ?", (bad,))
    assert count == 2  # the search result under the texts, the final pairs under the lines
    assert found() == expected


@needs_embed
def test_check_twice_and_with_a_damaged_stored_result_reports_the_same(tmp_path):
    """Through `tuneline check`: the second run takes the stored search result, and a damaged one (rows out of
    range) is searched again — the same pairs and exit code, nothing on stderr. (The search again runs on the cached
    vectors, kept as float16, so a cosine may differ from the cold run's in the third decimal.)"""
    import sqlite3

    lines, _ = planted()
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(lines) + "\n")
    env = cache_home(tmp_path)

    def check() -> tuple[int, bytes]:
        done = cli("check", "--format", "json", "--near-duplicates=semantic", str(data), env=env)
        assert done.returncode in (0, 1) and not done.stderr, done.stderr
        return done.returncode, done.stdout

    first = check()
    assert b'"TL302"' in first[1]
    assert check() == first
    (store,) = (tmp_path / "cache").rglob("embeddings.sqlite")
    with sqlite3.connect(store) as db:
        db.execute("UPDATE results SET data = ?", ((10**6).to_bytes(8, "little") * 2 + b"\0" * 4,))

    def pairs(report: bytes) -> list[tuple[int, int]]:
        diagnostics = json.loads(report)["files"][0]["diagnostics"]
        return [(d["line"], d["related"][0]["line"]) for d in diagnostics if d["code"] == "TL302"]

    code, again = check()
    assert code == first[0] and pairs(again) == pairs(first[1])
