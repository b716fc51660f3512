"""The local evaluation child: `python -P -m tuneline.training.evaluate.local_child EVAL_FOLDER`.

Loads the run's base model as it was trained (the run's `config.toml`: 4-bit NF4 on a GPU when it trained that way,
the compute dtype otherwise), puts the saved adapter on it, and answers each held-out prompt twice, greedy and
seeded: with the adapter (tuned) and with the adapter switched off (base). Each answer is appended to
`results.jsonl` as it is made, so a stopped evaluation resumes. SIGTERM stops after the current answer.

Runs only for an eval folder this user created (the nonce in its environment must match the state record), in safe
path mode from a neutral folder (see `processes`). A failure ends with one line `tuneline-eval: <sentence>`.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from . import store
from .store import answered

MARK = "tuneline-eval: "


def _device(requested: str | None) -> str:
    import torch

    if requested in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("no CUDA GPU is visible to evaluate on; pass --device cpu")
    return requested


def load(local: dict[str, Any]) -> tuple[Any, Any]:
    """(the base model with the run's adapter, the tokenizer saved with the adapter)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    from ..backends.local.loading import load_tokenizer, model_location, torch_dtype
    from ..backends.local.run_config import load_run_config

    cfg, _ = load_run_config(Path(local["run_folder"]) / "config.toml")
    device = _device(local.get("device"))
    adapter = Path(local["adapter"])
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(adapter))
    except (OSError, ValueError):
        tokenizer = load_tokenizer(cfg)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    where, extra = model_location(cfg.base_model or "")
    on_gpu = device.startswith("cuda")
    dtype = torch_dtype(cfg.compute_dtype if on_gpu else "float32")  # bf16 on a CPU is ~10x slower
    kwargs: dict[str, Any] = {"dtype": dtype, "trust_remote_code": cfg.trust_remote_code, **extra}
    if cfg.quantization == "nf4":
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=cfg.double_quant,
            bnb_4bit_compute_dtype=dtype,
        )
        kwargs["device_map"] = {"": int(device.split(":")[1]) if ":" in device else 0} if on_gpu else "cpu"
    model = AutoModelForCausalLM.from_pretrained(where, **kwargs)
    if extra.get("gguf_file") and getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer.remove_quantization_config(model)
    if "device_map" not in kwargs:
        model.to(device)
    model = PeftModel.from_pretrained(model, str(adapter))
    model.eval()
    model.config.use_cache = True
    torch.manual_seed(0)
    return model, tokenizer


def run(folder: Path, stop: threading.Event) -> int:
    from ..backends.local.evaluation import generate_answer

    spec = store.read_spec(folder)
    items = store.read_items(folder)
    done = answered(store.read_results(folder))
    todo = [(i, role) for i in items for role in ("tuned", "base") if i.line not in done[role]]
    if not todo:
        return 0
    model, tokenizer = load(spec["local"])
    results = store.Results(folder)
    try:
        for item, role in todo:
            if stop.is_set():
                return 0
            started = time.monotonic()
            if role == "base":
                with model.disable_adapter():
                    answer = generate_answer(model, tokenizer, item, int(spec["max_tokens"]), int(spec["seed"]))
            else:
                answer = generate_answer(model, tokenizer, item, int(spec["max_tokens"]), int(spec["seed"]))
            results.add(
                {
                    "line": item.line,
                    "role": role,
                    "model": spec["model"] if role == "tuned" else spec["base"],
                    "answer": answer.to_json(),
                    "seconds": round(time.monotonic() - started, 3),
                }
            )
    finally:
        results.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(f"{MARK}usage: python -m tuneline.training.evaluate.local_child EVAL_FOLDER", file=sys.stderr)
        return 2
    folder = Path(args[0])
    if not store.recorded(folder, os.environ.get(store.NONCE_ENV)):
        print(f"{MARK}{folder} is not an evaluation this user started through tuneline", file=sys.stderr)
        return 2
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        return run(folder, stop)
    except Exception as exc:
        import traceback

        traceback.print_exc()
        from ..backends.base import BackendError
        from ..backends.local.hardware import is_oom

        if isinstance(exc, BackendError):
            sentence = str(exc)
        elif is_oom(exc):
            sentence = (
                "out of memory while evaluating; evaluate on another device (--device) or with --max-tokens lower"
            )
        else:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            sentence = f"the local evaluation failed ({type(exc).__name__}: {first}); the details are in {folder / 'local.log'}"
        print(f"{MARK}{sentence}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
