"""Near duplicates (TL302) and train/validation overlap (TL306).

Two tiers: a lexical one (MinHash LSH over word shingles, in numpy; no model, seconds for 100k examples), and a
semantic one (embeddings of a static model distilled from MiniLM, cached on disk by content hash) when the `embed`
extra is installed. Both keep per-example state keyed by caller ids, so an editor can add and
remove examples as lines change and only re-embed what changed.

This package sits beside the pure engine (`tuneline.analysis`): numpy (which the `lexical` extra brings) and the
default model's tokenizer, weights and scipy (the `embed` extra; sentence-transformers only to distil the model
once, and for other models) are imported only when a tier runs, so a lint-only install can import the rest
(pairing, example texts, exact overlap); the engine never imports it.
"""

from ..analysis import native
from .texts import example_text

native.attach(__path__, "neardup")  # the C walks (minhash.c, word_ids.c), when built from these sources

__all__ = ["NearDuplicateDetector", "Pair", "example_text", "pair_findings"]


def __getattr__(name: str):
    """The detector needs numpy (the `lexical` extra): load it only when asked for."""
    if name == "pair_findings":
        from .checks import pair_findings

        return pair_findings
    if name in ("NearDuplicateDetector", "Pair"):
        from . import detector

        return getattr(detector, name)
    raise AttributeError(name)
