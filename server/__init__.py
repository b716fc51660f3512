"""tuneline: lint, measure and train on fine-tuning JSONL datasets."""

__version__ = "0.1.0"
