"""Which near-duplicate tier runs and how its detector is built: one owner for `tuneline check`/`dedupe` and the
editor's background pass, so the two never disagree on the mode, the threshold, the model or the cache.

Light to import: the tiers' packages (numpy, the tokenizer, scipy; sentence-transformers for other models) load
inside `build_detector`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..analysis.config import Settings

if TYPE_CHECKING:
    from .detector import NearDuplicateDetector

AUTO_FALLBACK_NOTE = "semantic near duplicates need the 'embed' extra; using the lexical tier"


def resolve_mode(requested: str | None, settings: Settings) -> tuple[str, str | None]:
    """'off' | 'lexical' | 'semantic', and a note when 'auto' had to fall back to the lexical tier.

    `requested` (a command-line flag) wins over the setting; 'auto' means semantic when the embed extra is
    installed."""
    mode = requested or settings.near_duplicates
    if mode != "auto":
        return mode, None
    from .embedding_models import semantic_available

    return ("semantic", None) if semantic_available() else ("lexical", AUTO_FALLBACK_NOTE)


def build_detector(mode: str, settings: Settings, threshold: float | None = None) -> NearDuplicateDetector:
    """A detector for `mode` ('lexical' or 'semantic') with the settings' model and threshold (`threshold`, from a
    command-line flag, wins). The semantic tier caches embeddings on disk. Raises `NearDuplicatesUnavailable`
    (`EmbeddingUnavailable` when the embedding model cannot be loaded), whose message is one sentence."""
    from .detector import NearDuplicateDetector

    cache = None
    if mode == "semantic":
        from .cache import EmbeddingCache

        cache = EmbeddingCache()
    chosen = threshold if threshold is not None else settings.near_duplicate_threshold
    return NearDuplicateDetector(mode, threshold=chosen, model=settings.embedding_model, cache=cache)
