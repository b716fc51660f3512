"""`tuneline eval`: did the run help? Base and tuned model answer the same held-out prompts, side by side, scored.

The package is split so that the front ends stay light: `items`, `metrics`, `judge`, `prices`, `plan`, `store` and
`report` import nothing heavy (the language server uses them); `hosted` imports a provider SDK and `local_child`
imports torch, each only inside the process that sends the requests or runs the model.

| module | what |
| --- | --- |
| `items.py` | a held-out JSONL file as prompts and reference answers |
| `metrics.py` | the per-answer scores and their rates (docs/eval.md defines each) |
| `judge.py` | the optional pairwise LLM-as-judge: prompt, position swap, verdicts |
| `prices.py` | inference prices (`prices.toml`) and the cost estimate shown before any request |
| `plan.py` | what to evaluate: a run started here or a model named, the held-out file, the base model |
| `store.py` | the eval folder (`eval.json`, `results.jsonl`, `summary.json`), resume, the state record |
| `hosted.py` | chat completions through the backend's own SDK client, concurrent, with retries |
| `local.py`, `local_child.py` | transformers generation (base and adapter) in a child process |
| `runner.py` | one evaluation from start (or resume) to summary; `python -m` entry for the editor |
| `report.py` | the JSON contract, the text table and the HTML report |
"""
