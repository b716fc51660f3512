"""What a finished run leaves for a person to look at: `evaluation.md` (held-out loss of base and tuned model,
and a few held-out prompts answered by both, side by side) and `loss.png` (the training and evaluation curves)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...runs import atomic_write_text

if TYPE_CHECKING:
    import threading

    from .examples import Example
    from .run_config import LocalConfig
    from .rundir import RunFolder


def plot_loss(
    metrics: Sequence[dict[str, Any]], path: Path, title: str = "", baseline: float | None = None
) -> Path | None:
    """A PNG of training loss (and evaluation loss when there is one) against the step, with the base model's
    held-out loss as a dashed line when known; None without points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # A run restarted from scratch logs its steps again: the newest value of each step wins.
    train = sorted({m["step"]: m["loss"] for m in metrics if m.get("loss") is not None}.items())
    evals = sorted({m["step"]: m["eval_loss"] for m in metrics if m.get("eval_loss") is not None}.items())
    if not train and not evals:
        return None
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    try:
        if train:
            ax.plot(*zip(*train), label="training loss", color="#1f77b4", linewidth=1.4)
        if evals:
            ax.plot(*zip(*evals), label="evaluation loss", color="#d62728", marker="o", linewidth=1.4)
        if baseline is not None:
            ax.axhline(baseline, label="base model, held out", color="#7f7f7f", linestyle="--", linewidth=1)
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.grid(alpha=0.3)
        ax.legend()
        if title:
            ax.set_title(title, fontsize=10)
        fig.tight_layout()
        tmp = path.with_name(f".{path.name}.tmp.png")
        fig.savefig(tmp)
        tmp.replace(path)
    finally:
        plt.close(fig)
    return path


def prompt_of(example: Example) -> tuple[Any, str]:
    """(what to feed the model, the reference answer) for a held-out example."""
    row = example.row
    if example.format == "chat":
        messages = row["messages"]
        last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
        return messages[:last], messages[last]["content"]
    if example.format == "prompt-completion":
        return row["prompt"], row["completion"]
    if example.format == "preference":
        chosen = row["chosen"]
        return row["prompt"], chosen if isinstance(chosen, str) else chosen[-1]["content"]
    text = row["text"]
    cut = max(1, len(text) // 3)
    return text[:cut], text[cut:]


def _encode(tokenizer: Any, prompt: Any, device: Any) -> Any:
    if isinstance(prompt, list):
        ids = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    else:
        ids = tokenizer(prompt, return_tensors="pt")
    return {k: v.to(device) for k, v in ids.items() if k in ("input_ids", "attention_mask")}


def generate(model: Any, tokenizer: Any, prompt: Any, max_new_tokens: int) -> str:
    import torch

    inputs = _encode(tokenizer, prompt, model.device)
    with torch.no_grad():
        out = model.generate(
            **inputs,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    return tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True).strip()


def side_by_side(
    model: Any, tokenizer: Any, examples: Sequence[Example], count: int, max_new_tokens: int
) -> list[dict[str, Any]]:
    """Greedy answers of the base model (adapter disabled) and the tuned model to the first `count` prompts."""
    model.eval()
    use_cache = getattr(model.config, "use_cache", None)
    model.config.use_cache = True
    rows = []
    try:
        for ex in examples[:count]:
            prompt, reference = prompt_of(ex)
            tuned = generate(model, tokenizer, prompt, max_new_tokens)
            with model.disable_adapter():
                base = generate(model, tokenizer, prompt, max_new_tokens)
            rows.append({"line": ex.line, "prompt": prompt, "reference": reference, "base": base, "tuned": tuned})
    finally:
        model.config.use_cache = use_cache
    return rows


def _cell(text: Any) -> str:
    if isinstance(text, list):
        text = "\n".join(f"**{m['role']}:** {m.get('content', '')}" for m in text)
    text = "".join(c if c.isprintable() or c == "\n" else "\ufffd" for c in str(text)).strip() or "*(empty)*"
    return text.replace("|", "\\|").replace("\n", "<br>")


def render_markdown(title: str, summary: dict[str, Any], rows: Sequence[dict[str, Any]]) -> str:
    out = [f"# Evaluation: {title}", ""]
    out.append(f"- base model: `{summary.get('base_model')}`")
    out.append(f"- method: {summary.get('method', 'sft').upper()}, held-out examples: {summary.get('examples')}")
    base, tuned = summary.get("base_eval_loss"), summary.get("eval_loss")
    if tuned is not None:
        change = f" (base model: {base:.4f})" if base is not None else ""
        out.append(f"- held-out loss: **{tuned:.4f}**{change}")
    out.append("")
    if rows:
        out.append("## Held-out prompts, answered by both models (greedy decoding)")
        out.append("")
        for i, row in enumerate(rows, start=1):
            out.append(f"### {i}. line {row['line']}")
            out.append("")
            out.append("| | |")
            out.append("| --- | --- |")
            out.append(f"| prompt | {_cell(row['prompt'])} |")
            out.append(f"| reference | {_cell(row['reference'])} |")
            out.append(f"| base model | {_cell(row['base'])} |")
            out.append(f"| tuned model | {_cell(row['tuned'])} |")
            out.append("")
    return "\n".join(out) + "\n"


def evaluate(
    run: RunFolder,
    cfg: LocalConfig,
    method: str,
    trainer: Any,
    tokenizer: Any,
    held: Sequence[Example],
    stop: threading.Event,
) -> dict[str, Any]:
    """Held-out loss of the tuned model (and of the base model for SFT), side-by-side generations (skipped once a
    stop is asked for), and `evaluation.md`. Returns the numbers for trainer.json."""
    started = time.monotonic()
    summary: dict[str, Any] = {"base_model": cfg.base_model, "method": method, "examples": len(held)}
    if trainer.eval_dataset is not None and len(trainer.eval_dataset):
        step = trainer.state.global_step
        done = [h["eval_loss"] for h in trainer.state.log_history if h.get("step") == step and "eval_loss" in h]
        summary["eval_loss"] = done[-1] if done else trainer.evaluate().get("eval_loss")
        if method == "sft":
            with trainer.model.disable_adapter():
                summary["base_eval_loss"] = trainer.evaluate(metric_key_prefix="base").get("base_loss")
    rows = []
    if cfg.generations and not stop.is_set():
        rows = side_by_side(trainer.model, tokenizer, held, cfg.generations, cfg.max_new_tokens)
    path = run.path / "evaluation.md"
    atomic_write_text(path, render_markdown(run.run_id, summary, rows))
    summary["generations"] = len(rows)
    summary["seconds"] = round(time.monotonic() - started, 1)
    run.event("evaluated", f"evaluation written to {path}", path=str(path), eval_loss=summary.get("eval_loss"))
    return summary
