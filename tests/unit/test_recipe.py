"""The recipe's fields are defined once (lab1.run.train): the class's checks and the comparison
of runs read a manifest's recipe through them."""

from dataclasses import fields
from types import SimpleNamespace

import pytest

from lab1.classroom.checks import recipe_changes
from lab1.compare.crossrun import recipe
from lab1.config import Lab1Config
from lab1.run.train import COMPARED_FIELDS, Recipe

# A value other than the reference's for each compared field, chosen by hand.
OTHER = {
    "epochs": 2,
    "batch_size": 32,
    "test_batch_size": 500,
    "lr": 0.5,
    "gamma": 0.9,
    "seed": 7,
    "precision": "bf16",
}


def test_the_compared_recipe_is_the_checkpoints_recipe_less_the_data_plus_the_epochs():
    resumed = {f.name for f in fields(Recipe)}
    assert set(COMPARED_FIELDS) == resumed - {"dataset", "data_checksum"} | {"epochs"}


def test_the_comparison_writes_the_reference_recipe_as_before():
    m = SimpleNamespace(parameters=Lab1Config())
    assert recipe(m) == (
        "mnist, Adadelta lr 1.0, StepLR gamma 0.7, batch 64 (test 1000), 14 epochs, seed 1, fp32"
    )
    m = SimpleNamespace(parameters=Lab1Config(epochs=1, dry_run=True))
    assert recipe(m).endswith(", 1 epoch, seed 1, fp32, dry run")


@pytest.mark.parametrize("field", COMPARED_FIELDS)
def test_every_compared_field_is_written_and_checked(field):
    """Two runs that differ in any compared field have different recipes, and the class's
    checks name exactly that field."""
    changed = Lab1Config(**{field: OTHER[field]})
    assert recipe(SimpleNamespace(parameters=changed)) != recipe(
        SimpleNamespace(parameters=Lab1Config())
    )
    assert recipe_changes(changed) == [field]


def test_recipe_changes_come_in_the_fields_order():
    assert recipe_changes(Lab1Config(seed=7, epochs=2, lr=0.5)) == ["epochs", "lr", "seed"]
