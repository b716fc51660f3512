"""Near-duplicate speed, end to end and in parts, with semhash on the same file in the same run.

    python bench/neardup_speed.py [20000 100000] [--repeat 3] [--no-semhash] [--semhash-threshold 0.97]
        [--exact-up-to N] [--end-to-end-only]

For each size (a file from bench/generate.py):

- **End to end**, each a fresh `tuneline` process: plain `check --format json`, then
  `--near-duplicates=semantic` with an empty embedding cache (cold), again (warm: embeddings and the search result
  come from the cache), on a copy with one example edited (one embedding and the whole search again), then
  `--near-duplicates=lexical`; each the fastest of --repeat runs (this machine is shared: single runs vary by
  50%), printed as ratios to the plain check. The cold and warm runs use a temporary cache
  folder (XDG_CACHE_HOME) holding a copy of the already distilled default model, so "cold" means no embeddings,
  not a model to distil.
- **semhash** (`pip install semhash`; not a dependency of tuneline), one fresh process: read the same file, take
  the same example texts, embed them with the same static model (its weights and tokenizer loaded into
  model2vec's `StaticModel`, semhash's own encoder: the vectors are identical to ours) and `self_deduplicate`.
  Its threshold is on raw cosines, where this model scores unrelated texts of one register high: at semhash's
  default 0.9, 96% of the 20k file counts as duplicates (and deduplicating takes 20 s); at 0.97 (the default here)
  it reports about as many as tuneline's TL302 (5,400 against 3,100 at 20k) and runs fastest. Its wall time
  includes its imports, like ours.
- **Parts**, in this process: text extraction, embedding with a fresh cache, the pair search the detector uses at
  this size, and (up to --exact-up-to rows, 20,000 by default) the exact search with the recall of the default
  one against it: of the rows the exact search reports as near duplicates (a row with an earlier partner at or
  above the threshold), how many the default search reports, and with the same partner. One edited example.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from generate import as_installed, dataset

from tuneline.analysis import Dataset, Engine, Settings
from tuneline.analysis.lines import decode_bytes
from tuneline.neardup import NearDuplicateDetector
from tuneline.neardup.cache import EmbeddingCache
from tuneline.neardup.checks import dataset_texts
from tuneline.neardup.embedding_models import static_model_dir

SEMHASH = r"""
import json, sys, time
t0 = time.perf_counter()
from model2vec import StaticModel
from safetensors.numpy import load_file
from semhash import SemHash
from tokenizers import Tokenizer
from tuneline.neardup.texts import example_text
data, folder, threshold = sys.argv[1], sys.argv[2], float(sys.argv[3])
model = StaticModel(
    vectors=load_file(folder + "/model.safetensors")["embedding.weight"],
    tokenizer=Tokenizer.from_file(folder + "/tokenizer.json"),
    normalize=True,
    max_length=128,
)
with open(data, encoding="utf-8") as fh:
    texts = [t for line in fh if (t := example_text(line))]
result = SemHash.from_records(texts, model=model).self_deduplicate(threshold=threshold)
print(json.dumps({"seconds": time.perf_counter() - t0, "duplicates": len(result.filtered)}))
"""


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def run_cli(args: list[str], env: dict[str, str]) -> tuple[float, dict]:
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "tuneline", *args], capture_output=True, env=env)
    seconds = time.perf_counter() - t
    if p.returncode == 2:
        raise SystemExit(f"tuneline {' '.join(args)} failed: {p.stderr.decode(errors='replace')}")
    return seconds, json.loads(p.stdout)


def tl302(doc: dict) -> int:
    return sum(d["code"] == "TL302" for f in doc["files"] for d in f["diagnostics"])


def end_to_end(path: Path, semhash: float | None, repeat: int) -> None:
    """Each tuneline row is the fastest of `repeat` runs, taken in rounds (check, cold, warm, edited, lexical), so a
    burst of load from other work on the machine hits one run, not one row."""
    model = static_model_dir()
    with tempfile.TemporaryDirectory() as tmp:
        cache_home = Path(tmp) / "cache"
        shutil.copytree(model, cache_home / "tuneline" / "models" / model.name)
        env = {**os.environ, "XDG_CACHE_HOME": str(cache_home), "HF_HUB_OFFLINE": "1"}
        plain = ["check", "--format", "json"]
        semantic = [*plain, "--near-duplicates=semantic"]
        lines = path.read_bytes().splitlines(keepends=True)
        times: dict[str, list[float]] = {}
        docs: dict[str, dict] = {}

        def run(row: str, args: list[str]) -> None:
            seconds, docs[row] = run_cli(args, env)
            times.setdefault(row, []).append(seconds)

        for round_ in range(repeat):
            run("check", [*plain, str(path)])
            for stale in (cache_home / "tuneline").glob("embeddings.sqlite*"):
                stale.unlink()  # cold: no embeddings, no stored search
            run("cold", [*semantic, str(path)])
            run("warm", [*semantic, str(path)])
            # One example changed (another one each round): its embedding and the whole search are done again.
            edited = Path(tmp) / path.name
            row = len(lines) // 2 + round_
            example = json.loads(lines[row])
            example["messages"][-1]["content"] += " Thanks for asking!"
            edited.write_bytes(b"".join([*lines[:row], json.dumps(example).encode() + b"\n", *lines[row + 1 :]]))
            run("edited", [*semantic, str(edited)])
            run("lexical", [*plain, "--near-duplicates=lexical", str(path)])
        best = {row: min(ts) for row, ts in times.items()}
        t_check, t_cold = best["check"], best["cold"]
        print(f"{'':>16}check {t_check:6.2f} s (fastest of {repeat}: {', '.join(f'{t:.2f}' for t in times['check'])})")
        print(
            f"{'':>16}--near-duplicates=semantic: cold {t_cold:6.2f} s ({t_cold / t_check:.2f}x check), "
            f"warm {best['warm']:6.2f} s ({best['warm'] / t_check:.2f}x); {tl302(docs['cold']):,} TL302"
        )
        print(
            f"{'':>16}  warm, one example edited (search again): {best['edited']:6.2f} s "
            f"({best['edited'] / t_check:.2f}x check)"
        )
        print(
            f"{'':>16}--near-duplicates=lexical: {best['lexical']:6.2f} s ({best['lexical'] / t_check:.2f}x check); "
            f"{tl302(docs['lexical']):,} TL302"
        )
        if semhash is not None:
            t_sem = time.perf_counter()
            command = [sys.executable, "-c", SEMHASH, str(path), str(model), str(semhash)]
            p = subprocess.run(command, capture_output=True, env=env)
            t_sem = time.perf_counter() - t_sem
            if p.returncode:
                print(f"{'':>16}semhash: not run ({p.stderr.decode(errors='replace').strip().splitlines()[-1]})")
            else:
                found = json.loads(p.stdout)
                print(
                    f"{'':>16}semhash (same model, same texts, threshold {semhash}): {t_sem:6.2f} s, "
                    f"{found['duplicates']:,} duplicates;"
                    f" tuneline cold is {t_sem / t_cold:.1f}x faster, and lints the file too"
                )


def parts(n: int, path: Path, exact_up_to: int) -> None:
    from tuneline.neardup import pair_search

    engine = Engine(Settings())
    lines = decode_bytes(path.read_bytes()).lines
    ds = Dataset(engine, lines)
    t_texts, texts = timed(lambda: dataset_texts(ds))
    with tempfile.TemporaryDirectory() as tmp:
        sem = NearDuplicateDetector("semantic", cache=EmbeddingCache(Path(tmp) / "e.sqlite"))
        t_embed, _ = timed(lambda: sem.update(texts.items()))
        t_search, pairs = timed(sem.pairs)
        kind = "exact" if n <= pair_search.EXACT_UP_TO else "clustered"
        print(
            f"{'':>16}parts: texts {t_texts:5.2f} s, embed {t_embed:5.2f} s ({n / t_embed:,.0f} examples/s, fresh "
            f"cache), {kind} search {t_search:5.2f} s ({len(pairs):,} pairs >= {sem.threshold})"
        )
        if kind == "clustered" and n <= exact_up_to:
            matrix = sem.semantic._compared()
            with pair_search._one_blas_thread():
                t_exact, exact = timed(lambda: pair_search.exact_pairs(matrix, sem.threshold))
                clustered = pair_search.clustered_pairs(matrix, sem.threshold)

            def best_earlier(found) -> dict[int, int]:
                best: dict[int, tuple[float, int]] = {}
                for a, b, s in zip(*(x.tolist() for x in found), strict=True):
                    if b not in best or s > best[b][0]:
                        best[b] = (s, a)
                return {b: a for b, (_, a) in best.items()}

            want, got = best_earlier(exact), best_earlier(clustered)
            hit = len(want.keys() & got.keys())
            same = sum(got.get(b) == a for b, a in want.items())
            extra = len(got.keys() - want.keys())
            print(
                f"{'':>16}exact search {t_exact:5.2f} s; recall of the clustered search: {hit:,} / {len(want):,} "
                f"rows ({hit / max(len(want), 1):.2%}), same partner {same / max(len(want), 1):.2%}, "
                f"{extra} rows the exact search does not report"
            )
        key = next(iter(texts))
        edited = texts[key] + " One more sentence about refunds."
        t_edit, _ = timed(lambda: (sem.update([(key, edited)]), sem.pairs_of(key)))
        print(f"{'':>16}one edited example: re-embed + neighbours {t_edit * 1000:6.1f} ms")


def main() -> None:
    as_installed()
    parser = argparse.ArgumentParser()
    parser.add_argument("sizes", nargs="*", type=int, default=[20_000, 100_000])
    parser.add_argument("--no-semhash", action="store_true")
    parser.add_argument("--semhash-threshold", type=float, default=0.97)
    parser.add_argument("--exact-up-to", type=int, default=20_000)
    parser.add_argument("--end-to-end-only", action="store_true", help="only the tuneline and semhash processes")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each tuneline command (the fastest counts)")
    args = parser.parse_args()
    if not (static_model_dir() / "modules.json").exists():
        NearDuplicateDetector("semantic")  # distils the default model once (not part of any timing)
    for n in args.sizes:
        path = dataset(n)
        print(f"{n:>7,} examples ({path.stat().st_size / 1e6:.0f} MB)")
        end_to_end(path, None if args.no_semhash else args.semhash_threshold, args.repeat)
        if not args.end_to_end_only:
            parts(n, path, args.exact_up_to)


if __name__ == "__main__":
    main()
