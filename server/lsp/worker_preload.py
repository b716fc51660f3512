"""Imported once by the language server's forkserver, so every analysis worker forked from it starts ready.

Why: a worker's first job is to build an engine, and most of that is loading the o200k_base tokenizer (rs-bpe's
~0.05 s, or tiktoken's ~0.2 s: its ranks parsed and tables built). Loading it here, in the forkserver, makes each
worker inherit it (the tokenizer is cached per process), so workers join the analysis of a freshly opened large file
sooner.
Nothing here may touch stdin or start threads: the forkserver forks from this state.
"""

from __future__ import annotations

import contextlib

from tuneline.analysis import Engine  # noqa: F401  (the engine's modules, imported once for every worker)
from tuneline.analysis.rules.text_scan import detectors
from tuneline.analysis.tokens import EncodingUnavailable, exact_counter

with contextlib.suppress(EncodingUnavailable):  # offline without the bundle: each worker reports it as before
    exact_counter("o200k_base")
with contextlib.suppress(Exception):  # an optimisation: a worker imports them itself when a line needs them
    detectors()  # detect-secrets' pattern detectors (~15 ms from their cached patterns): a large file needs them
