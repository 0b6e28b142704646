import inspect
import typing
from dataclasses import fields

import pytest

from lab1.config import Lab1Config
from lab1.errors import ConfigError


def test_defaults_are_the_reference_recipe():
    cfg = Lab1Config()
    assert (cfg.batch_size, cfg.test_batch_size, cfg.lr, cfg.gamma, cfg.seed, cfg.epochs) == (
        64,
        1000,
        1.0,
        0.7,
        1,
        14,
    )
    assert cfg.dataset == "mnist" and cfg.devices == ("auto",)
    assert cfg.run_name and cfg.data_dir  # filled in: every run gets its own name


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "--batch-size must be a positive integer"),
        ({"epochs": -1}, "--epochs must be a positive integer"),
        ({"test_batch_size": 2.5}, "--test-batch-size must be a positive integer"),
        ({"dataset": "foo"}, "--dataset 'foo' is not supported"),
        ({"lr": 0}, "--lr must be > 0"),
        ({"gamma": 1.5}, "--gamma must be in (0, 1]"),
        ({"seed": -3}, "--seed must be a non-negative integer"),
        ({"devices": ("gpu",)}, "--devices 'gpu' is not a device"),
        ({"devices": ("auto", "cpu")}, "cannot be combined"),
        ({"run_name": "../evil"}, "--run-name '../evil' must be"),
        ({"run_name": "a/b"}, "--run-name 'a/b' must be"),
        ({"resume": True}, "--resume needs --run-name"),
        ({"paper": "a5"}, "--paper must be one of a4, letter, got 'a5'"),
        ({"paper": "A4"}, "--paper must be one of a4, letter, got 'A4'"),
        ({"measure_tries": 0}, "--measure-tries must be a positive integer, got 0"),
        ({"quiet_wait_s": -1.0}, "--quiet-wait-s must be seconds between 0 and 3600, got -1.0"),
        ({"quiet_wait_s": 7200}, "--quiet-wait-s must be seconds between 0 and 3600, got 7200"),
    ],
)
def test_bad_values_explain_themselves(kwargs, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Lab1Config(**kwargs)


def test_dry_run_limits():
    cfg = Lab1Config(dry_run=True)
    assert cfg.effective_epochs == 2
    assert cfg.train_batches_limit == 3 and cfg.test_batches_limit == 1
    full = Lab1Config()
    assert full.effective_epochs == 14 and full.train_batches_limit is None


# --------------------------------------------------------------------------- declared once


def _hints_and_defaults(fn) -> dict:
    hints = typing.get_type_hints(fn)
    return {n: (hints[n], p.default) for n, p in inspect.signature(fn).parameters.items()}


CONFIG = {
    f.name: (typing.get_type_hints(Lab1Config)[f.name], f.default) for f in fields(Lab1Config)
}


def test_the_flow_takes_every_config_field_with_its_type_and_default():
    from flows.lab1_flow import lab1_pipeline

    assert _hints_and_defaults(lab1_pipeline.fn) == CONFIG


def test_the_cli_has_one_option_per_config_field_and_leaves_defaults_to_it():
    from flows.cli import run_parser as build_parser

    parser = build_parser()
    options = {a.dest: a for a in parser._actions if a.dest not in ("help", "open_report")}
    assert set(options) == set(CONFIG)
    assert all(a.default is None for a in options.values())  # unset: the dataclass decides
    for name, (_, default) in CONFIG.items():
        if default in (None, False, ()):
            continue
        flag = "--" + name.replace("_", "-")
        text = [str(default)] if not isinstance(default, tuple) else [str(v) for v in default]
        parsed = getattr(parser.parse_args([flag, *text]), name)
        assert (tuple(parsed) if isinstance(default, tuple) else parsed) == default, name


def test_the_recipe_is_the_configs_recipe_fields():
    from types import SimpleNamespace

    from flows.lab1_flow import _training_args
    from lab1.run.train import Recipe
    from lab1.rundir import RunPaths

    hints = typing.get_type_hints(Recipe)
    assert {n: hints[n] for n in hints if n != "data_checksum"} == {
        n: CONFIG[n][0] for n in hints if n != "data_checksum"
    }
    cfg = Lab1Config(batch_size=32, test_batch_size=100, lr=0.5, gamma=0.9, seed=7)
    book = SimpleNamespace(device="cpu", paths=RunPaths("/tmp/run"))
    args = _training_args(cfg, book, {"path": "d.pt", "checksum": "abc"})
    assert args["recipe"] == {
        "dataset": "mnist",
        "data_checksum": "abc",
        "batch_size": 32,
        "test_batch_size": 100,
        "lr": 0.5,
        "gamma": 0.9,
        "seed": 7,
        "precision": "fp32",
    }


# profile_device's parameters: the Lab1Config value each one is (a field or a property), or
# None for the per-call ones the flow fills in.
PROFILE_DEVICE = {
    "run_dir": None,
    "data_path": None,
    "dataset": "dataset",
    "device": None,
    "batch_sizes": "batch_sizes",
    "run_id": None,
    "schedule": "profile_schedule",
    "seed": "seed",
    "lr": "lr",
    "precisions": "precisions_to_profile",
    "required": None,
    "refresh": None,
    "cpu_threads": "cpu_threads",
    "ladder": "ladder",
    "tries": "measure_tries",
    "quiet_wait_s": "quiet_wait_s",
}


def test_profiling_arguments_are_the_configs(monkeypatch):
    from types import SimpleNamespace

    from flows import lab1_flow
    from flows.profile_flow import profile_device
    from tasks.profile import profile

    params = inspect.signature(profile_device.fn).parameters
    assert list(params) == list(PROFILE_DEVICE)
    cfg = Lab1Config()
    for name, source in PROFILE_DEVICE.items():
        default = params[name].default
        if source is not None and default is not inspect.Parameter.empty:
            value = getattr(cfg, source)
            if isinstance(value, tuple | list):
                assert tuple(default) == tuple(value), name
            else:
                assert default == value, name
    for name, p in inspect.signature(profile.fn).parameters.items():
        if name in CONFIG and p.default is not inspect.Parameter.empty:
            assert p.default == CONFIG[name][1], name
    # What the flow passes: the run's own values, not the defaults.
    calls = []
    monkeypatch.setattr(lab1_flow, "profile_device", lambda **kw: calls.append(kw))
    cfg = Lab1Config(
        batch_sizes=(2, 8), cpu_threads=("1",), seed=5, lr=0.3, dry_run=True, precision="bf16"
    )
    book = SimpleNamespace(
        paths=SimpleNamespace(root="/r"), run_id="id", resuming=False, devices=["cpu"]
    )
    lab1_flow._profile_all(cfg, book, "d.pt")
    assert calls == [
        {
            "device": "cpu",
            "run_dir": "/r",
            "data_path": "d.pt",
            "dataset": "mnist",
            "batch_sizes": [2, 8],
            "precisions": ["fp32", "bf16"],
            "run_id": "id",
            "schedule": {
                "wait": 0,
                "warmup": 1,
                "active": 1,
                "throughput_steps": 2,
                "min_block_s": 0,  # a dry run times each block once
                "limits_divisor": 8,  # and its limits on 256×256 matrices
            },
            "seed": 5,
            "lr": 0.3,
            "refresh": True,
            "cpu_threads": ["1"],
            "ladder": [1, 2, 4],
            "tries": 3,
            "quiet_wait_s": 30.0,
        }
    ]


@pytest.mark.parametrize("divisor", [0, 65, 2.0, True])
def test_a_limits_divisor_outside_1_to_64_is_refused(divisor):
    from lab1.config import ProfileSchedule

    with pytest.raises(ConfigError, match="limits_divisor"):
        ProfileSchedule(limits_divisor=divisor)
