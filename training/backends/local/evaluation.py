"""What a finished run leaves for a person to look at, and the generation both evaluations share.

At the end of training the trainer evaluates the run the way `tuneline eval` does, on a few held-out examples
(`generations`, greedy): base model (adapter switched off) and tuned model answer the same prompts, the answers
are scored with `tuneline.training.evaluate.metrics`, and the results are stored as an evaluation of the run
(`eval/<id>/`, the same files `tuneline eval` writes, so the editor's report shows them). `evaluation.md` holds the
held-out loss of both models, the metric table and the answers side by side; `loss.png` the training and
evaluation curves. `tuneline eval RUN` evaluates every held-out example with the same code (`generate_answer`).
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...evaluate import report, store
from ...evaluate.items import Item, item_of, text_of
from ...evaluate.metrics import Answer
from ...runs import atomic_write_text, now

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


# --- generation (shared with `tuneline eval`'s local child) -------------------------------------------------------
def template_messages(prompt: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chat-completions messages in the shape HF chat templates expect: text content, tool-call arguments as
    mappings."""
    out = []
    for m in prompt:
        msg: dict[str, Any] = {"role": m.get("role"), "content": text_of(m.get("content"))}
        for key in ("name", "tool_call_id"):
            if isinstance(m.get(key), str):
                msg[key] = m[key]
        calls = []
        for call in m.get("tool_calls") or []:
            fn = dict((call or {}).get("function") or {})
            if isinstance(fn.get("arguments"), str):
                with contextlib.suppress(ValueError):
                    fn["arguments"] = json.loads(fn["arguments"])
            calls.append({"type": "function", "function": fn})
        if calls:
            msg["tool_calls"] = calls
        out.append(msg)
    return out


_TOOL_TAG = re.compile(r"<tool_call>\s*(\{.*?\})\s*</tool_call>", re.DOTALL)


def parse_tool_calls(text: str) -> tuple[str, list[dict[str, Any]]]:
    """(remaining text, tool calls) from a local model's output: `<tool_call>{…}</tool_call>` blocks (the Hermes
    and Qwen templates), or an answer that is nothing but `{"name": …, "arguments": …}`."""
    calls = []
    for block in _TOOL_TAG.findall(text):
        with contextlib.suppress(ValueError):
            value = json.loads(block)
            if isinstance(value, dict) and isinstance(value.get("name"), str):
                calls.append({"name": value["name"], "arguments": value.get("arguments", value.get("parameters"))})
    if calls:
        return _TOOL_TAG.sub("", text).strip(), calls
    stripped = text.strip()
    if stripped.startswith("{") and stripped.endswith("}"):
        with contextlib.suppress(ValueError):
            value = json.loads(stripped)
            if isinstance(value, dict) and set(value) <= {"name", "arguments", "parameters"} and "name" in value:
                return "", [{"name": value["name"], "arguments": value.get("arguments", value.get("parameters"))}]
    return text, []


def _encode(tokenizer: Any, item: Item, device: Any) -> Any:
    if item.raw_prompt is not None:
        ids = tokenizer(item.raw_prompt, return_tensors="pt")
    else:
        kwargs: dict[str, Any] = {"add_generation_prompt": True, "return_tensors": "pt", "return_dict": True}
        if item.tools:
            kwargs["tools"] = item.tools
        ids = tokenizer.apply_chat_template(template_messages(item.prompt), **kwargs)
    return {k: v.to(device) for k, v in ids.items() if k in ("input_ids", "attention_mask")}


def generate_answer(model: Any, tokenizer: Any, item: Item, max_new_tokens: int, seed: int = 42) -> Answer:
    """The model's greedy answer to `item`'s prompt, with its token counts (what `tuneline eval` records)."""
    import torch

    torch.manual_seed(seed)
    inputs = _encode(tokenizer, item, model.device)
    with torch.no_grad():
        out = model.generate(
            **inputs,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    new = out[0, inputs["input_ids"].shape[1] :]
    text = tokenizer.decode(new, skip_special_tokens=True).strip()
    content, calls = parse_tool_calls(text) if item.tools else (text, [])
    return Answer(content, calls, int(inputs["input_ids"].shape[1]), int(new.shape[0]))


def item_for(example: Example) -> Item | None:
    """A held-out training example as an evaluation item (None for text lines, which have no prompt)."""
    row = example.row
    if example.format == "chat":
        obj: dict[str, Any] = {"messages": row["messages"], **({"tools": row["tools"]} if row.get("tools") else {})}
    elif example.format == "prompt-completion":
        obj = {"prompt": row["prompt"], "completion": row["completion"]}
    elif example.format == "preference":
        obj = {"prompt": row["prompt"], "chosen": row["chosen"], "rejected": row["rejected"]}
    else:
        return None
    got = item_of(obj, example.line)
    return got if isinstance(got, Item) else None


def answer_both(model: Any, tokenizer: Any, item: Item, max_new_tokens: int, seed: int) -> dict[str, Answer]:
    """Tuned (adapter on) and base (adapter off) answers to one prompt."""
    tuned = generate_answer(model, tokenizer, item, max_new_tokens, seed)
    with model.disable_adapter():
        base = generate_answer(model, tokenizer, item, max_new_tokens, seed)
    return {"tuned": tuned, "base": base}


# --- the report at the end of training ----------------------------------------------------------------------------
def _cell(text: Any) -> str:
    if isinstance(text, list):
        text = "\n".join(f"**{m['role']}:** {text_of(m.get('content'))}" for m in text)
    text = "".join(c if c.isprintable() or c == "\n" else "\ufffd" for c in str(text)).strip() or "*(empty)*"
    return text.replace("|", "\\|").replace("\n", "<br>")


def render_markdown(title: str, summary: dict[str, Any], contract: dict[str, Any] | None) -> str:
    out = [f"# Evaluation: {title}", ""]
    out.append(f"- base model: `{summary.get('base_model')}`")
    out.append(f"- method: {summary.get('method', 'sft').upper()}, held-out examples: {summary.get('examples')}")
    base, tuned = summary.get("base_eval_loss"), summary.get("eval_loss")
    if tuned is not None:
        change = f" (base model: {base:.4f})" if base is not None else ""
        out.append(f"- held-out loss: **{tuned:.4f}**{change}")
    out.append("")
    if contract and contract["items"]:
        n = contract["examples"]
        out.append(f"## Metrics on {n} held-out prompt(s), greedy decoding")
        out.append("")
        out.append("| metric | n | base model | tuned model | change |")
        out.append("| --- | ---: | ---: | ---: | ---: |")
        for row in report.table_rows(contract):
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
        out.append("")
        if contract.get("folder"):
            out.append(
                f"Stored as evaluation `{contract['eval']}` of this run; `tuneline eval {summary.get('run')}` "
                "evaluates every held-out example, `--format html` shows the report."
            )
            out.append("")
        out.append("## Held-out prompts, answered by both models (greedy decoding)")
        out.append("")
        for i, row in enumerate(contract["items"], start=1):
            out.append(f"### {i}. line {row['line']} ({row['comparison']})")
            out.append("")
            out.append("| | |")
            out.append("| --- | --- |")
            out.append(f"| prompt | {_cell(row['prompt'])} |")
            out.append(f"| reference | {_cell(row['reference'])} |")
            out.append(f"| base model | {_cell(row['base'] or '')} |")
            out.append(f"| tuned model | {_cell(row['tuned'] or '')} |")
            out.append("")
    return "\n".join(out) + "\n"


def _store(run: RunFolder, cfg: LocalConfig, summary: dict[str, Any], items: list[Item], answers: list) -> dict:
    """The answers as an evaluation of the run (`eval/<id>/`), and its contract. A folder that cannot be written
    (a full disk) leaves only evaluation.md."""
    spec = {
        "version": 1,
        "created_at": now(),
        "target": {"kind": "training", "run": run.run_id, "text": run.run_id},
        "backend": "local",
        "model": str(run.path / "adapter"),
        "base": cfg.base_model,
        "held_out": {"path": "(held out by the trainer)", "examples": len(items), "lines": len(items), "skipped": []},
        "held_out_sha256": None,
        "limit": len(items),
        "max_tokens": cfg.max_new_tokens,
        "seed": cfg.seed,
        "judge": None,
        "prices": {"tuned": [0.0, 0.0], "base": [0.0, 0.0], "judge": None},
        "losses": {k: summary.get(k) for k in ("eval_loss", "base_eval_loss")},
        "local": None,
    }
    results = [
        {
            "line": item.line,
            "role": role,
            "model": spec["model"] if role == "tuned" else spec["base"],
            "answer": pair[role].to_json(),
        }
        for item, pair in zip(items, answers)
        for role in ("tuned", "base")
    ]
    try:
        folder = store.create(run.path / "eval", spec, items)
        atomic_write_text(
            folder / store.RESULTS_FILE, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in results)
        )
        spec = store.read_spec(folder)
    except (store.StoreError, OSError) as exc:
        run.event("warning", f"the evaluation could not be stored as eval/ ({exc}); evaluation.md has it")
        return report.build(spec, items, results)
    contract = report.build(spec, items, results, folder)
    store.write_summary(folder, {**report.summary_of(contract), "finished_at": now()})
    return contract


def evaluate(
    run: RunFolder,
    cfg: LocalConfig,
    method: str,
    trainer: Any,
    tokenizer: Any,
    held: Sequence[Example],
    stop: threading.Event,
) -> dict[str, Any]:
    """Held-out loss of the tuned model (and of the base model for SFT), the first `generations` held-out prompts
    answered by both and scored (skipped once a stop is asked for), stored as an evaluation of the run, and
    `evaluation.md`. Returns the numbers for trainer.json."""
    started = time.monotonic()
    summary: dict[str, Any] = {"base_model": cfg.base_model, "method": method, "examples": len(held), "run": run.run_id}
    if trainer.eval_dataset is not None and len(trainer.eval_dataset):
        step = trainer.state.global_step
        done = [h["eval_loss"] for h in trainer.state.log_history if h.get("step") == step and "eval_loss" in h]
        summary["eval_loss"] = done[-1] if done else trainer.evaluate().get("eval_loss")
        if method == "sft":
            with trainer.model.disable_adapter():
                summary["base_eval_loss"] = trainer.evaluate(metric_key_prefix="base").get("base_loss")
    contract = None
    if cfg.generations and not stop.is_set():
        model = trainer.model
        model.eval()
        use_cache = getattr(model.config, "use_cache", None)
        model.config.use_cache = True
        items = [i for i in (item_for(ex) for ex in held) if i is not None][: cfg.generations]
        try:
            answers = [answer_both(model, tokenizer, item, cfg.max_new_tokens, cfg.seed) for item in items]
        finally:
            model.config.use_cache = use_cache
        contract = _store(run, cfg, summary, items, answers)
        summary["metrics"] = {role: contract["metrics"][role] for role in ("tuned", "base")}
        summary["eval"] = contract.get("eval")
    path = run.path / "evaluation.md"
    atomic_write_text(path, render_markdown(run.run_id, summary, contract))
    summary["generations"] = len(contract["items"]) if contract else 0
    summary["seconds"] = round(time.monotonic() - started, 1)
    run.event("evaluated", f"evaluation written to {path}", path=str(path), eval_loss=summary.get("eval_loss"))
    return summary
