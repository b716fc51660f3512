"""Near-duplicate detection speed: lexical tier, embedding throughput, similarity search, end to end, one edit.

    python bench/neardup_speed.py [10000 100000]

The semantic rows use the default static model (distilled once from the bundled MiniLM into the user cache) and a
fresh, empty embedding cache, so every embedding is computed.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from generate import dataset

from tuneline.analysis import Dataset, Engine, Settings
from tuneline.analysis.lines import decode_bytes
from tuneline.neardup import NearDuplicateDetector
from tuneline.neardup.cache import EmbeddingCache
from tuneline.neardup.checks import dataset_texts, near_duplicate_findings


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main(sizes: list[int]) -> None:
    engine = Engine(Settings())
    for n in sizes:
        lines = decode_bytes(dataset(n).read_bytes()).lines
        ds = Dataset(engine, lines)
        texts = dataset_texts(ds)
        lex = NearDuplicateDetector("lexical")
        t_lex_index, _ = timed(lambda lex=lex, texts=texts: lex.update(texts.items()))
        t_lex_pairs, pairs = timed(lex.pairs)
        print(
            f"{n:>7,} examples  lexical: index {t_lex_index:6.2f} s  pairs {t_lex_pairs:6.2f} s  ({len(pairs):,} pairs)"
        )

        with tempfile.TemporaryDirectory() as tmp:
            sem = NearDuplicateDetector("semantic", cache=EmbeddingCache(Path(tmp) / "e.sqlite"))
            t_embed, _ = timed(lambda sem=sem, texts=texts: sem.update(texts.items()))
            t_search, pairs = timed(sem.pairs)
            print(
                f"{'':>16}semantic: embed {t_embed:6.2f} s ({n / t_embed:,.0f} examples/s)  "
                f"all-pairs search {t_search:6.2f} s  ({len(pairs):,} pairs >= {sem.threshold})"
            )
            fresh = NearDuplicateDetector("semantic", cache=EmbeddingCache(Path(tmp) / "e.sqlite"))
            t_e2e, found = timed(
                lambda lines=lines, fresh=fresh: near_duplicate_findings(Dataset(engine, lines), fresh)
            )
            print(f"{'':>16}end to end from the disk cache: {t_e2e:6.2f} s ({len(found):,} TL302 findings)")
            key = n // 2
            edited = texts[key] + " One more sentence about refunds."
            t_edit, _ = timed(lambda sem=sem, key=key, edited=edited: (sem.update([(key, edited)]), sem.pairs_of(key)))
            print(f"{'':>16}one edited example: re-embed + neighbours {t_edit * 1000:6.1f} ms")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [10_000, 100_000])
