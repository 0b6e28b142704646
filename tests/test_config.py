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
