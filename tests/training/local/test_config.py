"""The local run's settings: TOML in and out, unknown keys refused by name, `auto` resolved per device, and the
command-line options mapped onto the config."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuneline.training.backends.base import BackendError, TrainRequest
from tuneline.training.backends.local import config_for
from tuneline.training.backends.local.run_config import (
    LocalConfig,
    RunConfigError,
    load_config,
    load_run_config,
    parse_config,
    save_config,
)


def test_toml_round_trip_keeps_every_setting(tmp_path: Path):
    cfg = parse_config(
        {
            "base_model": "/models/x",
            "chat_template": "{% for m in messages %}{{ m['content'] }}\n{% endfor %}",
            "max_length": 512,
            "lora": {"r": 8, "target_modules": ["q_proj", "v_proj"]},
            "distributed": {"num_processes": 2, "strategy": "fsdp"},
            "learning_rate": 1.5e-4,
            "max_steps": 7,
        }
    )
    path = tmp_path / "run" / "config.toml"
    save_config(cfg, path, {"train": "/data/train.jsonl", "validation": None})
    again, files = load_run_config(path)
    assert again == cfg
    assert files == {"train": "/data/train.jsonl"}


def test_unknown_or_bad_settings_are_named(tmp_path: Path):
    path = tmp_path / "local.toml"
    path.write_text('base_model = "m"\nlearning_rat = 0.1\n')
    with pytest.raises(RunConfigError, match="unknown setting 'learning_rat'"):
        load_config(path)
    path.write_text("[lora]\nr = 0\n")
    with pytest.raises(RunConfigError, match=r"setting 'lora\.r'"):
        load_config(path)
    path.write_text("max_length = [")
    with pytest.raises(RunConfigError, match="not valid TOML"):
        load_config(path)
    with pytest.raises(RunConfigError, match="no such config file"):
        load_config(tmp_path / "missing.toml")


def test_config_tables_and_relative_paths(tmp_path: Path):
    (tmp_path / "tpl.jinja").write_text("{{ messages }}")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.tuneline.local]\nchat_template = "tpl.jinja"\nepochs = 2\n[tool.tuneline.local.lora]\nr = 4\n'
    )
    cfg = load_config(tmp_path / "pyproject.toml")
    assert (cfg.epochs, cfg.lora.r) == (2, 4)
    assert cfg.chat_template == str((tmp_path / "tpl.jinja").resolve())
    (tmp_path / "t.toml").write_text('[local]\nchat_template = "chatml"\n')
    assert load_config(tmp_path / "t.toml").chat_template == "chatml"


def test_auto_values_follow_the_device():
    gpu = LocalConfig().resolved("cuda", bf16_supported=True)
    assert (gpu.quantization, gpu.compute_dtype, gpu.optimizer, gpu.gradient_checkpointing) == (
        "nf4",
        "bfloat16",
        "paged_adamw_8bit",
        True,
    )
    assert LocalConfig().resolved("cuda", bf16_supported=False).compute_dtype == "float16"
    cpu = LocalConfig().resolved("cpu")
    # offline.md: bf16 compute on a CPU without bf16 hardware is ~10x slower; CPU runs use float32.
    assert (cpu.quantization, cpu.compute_dtype, cpu.optimizer, cpu.gradient_checkpointing) == (
        "none",
        "float32",
        "adamw_torch",
        False,
    )
    assert LocalConfig(quantization="nf4").resolved("cpu").compute_dtype == "float32"


def test_command_line_options_map_onto_the_config(tmp_path: Path):
    (tmp_path / "model").mkdir()
    request = TrainRequest(
        dataset=tmp_path / "d.jsonl",
        model="local",
        hyperparameters={"n_epochs": 5, "batch_size": 2, "learning_rate": 1e-3},
        seed=9,
        options={"base_model": str(tmp_path / "model"), "device": "cuda:1", "max_seq_length": 256, "lora_r": 4},
    )
    cfg = config_for(request)
    assert cfg.base_model == str(tmp_path / "model")
    assert (cfg.device, cfg.visible_devices) == ("cuda", "1")
    assert (cfg.max_length, cfg.lora.r, cfg.epochs, cfg.batch_size, cfg.learning_rate, cfg.seed) == (
        256,
        4,
        5,
        2,
        1e-3,
        9,
    )
    with pytest.raises(BackendError, match="unknown option 'bogus'"):
        config_for(TrainRequest(dataset=tmp_path / "d.jsonl", options={"bogus": 1}))


def test_the_worker_copy_of_a_request_finds_the_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The worker runs in the run folder: `--base-model model` (relative) no longer exists there, the plan's
    absolute path (request.model) does."""
    (tmp_path / "model").mkdir()
    monkeypatch.chdir(tmp_path)
    typed = TrainRequest(dataset=Path("d.jsonl"), model="local", options={"base_model": "model"})
    assert config_for(typed).base_model == str((tmp_path / "model").resolve())
    elsewhere = tmp_path / "run"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    echoed = TrainRequest(dataset=Path("d.jsonl"), model=str(tmp_path / "model"), options={"base_model": "model"})
    assert config_for(echoed).base_model == str(tmp_path / "model")
