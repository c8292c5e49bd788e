"""Every named family (losses, optimisers, schedules, metrics, notations, data sets) is one Registry, refuses
an unknown name in the one format, and is the only list of its names: the derived tuples and the
estimators' parameter constraints read it."""
import pytest

import backprop as bp
from backprop.data.toy import DATASETS
from backprop.derivatives.notation import NOTATIONS, PROFILES, get_profile
from backprop.errors import ConfigError
from backprop.losses import LOSS_ALIASES, LOSS_NAMES, LOSSES, get_loss, loss_class
from backprop.registry import Registry
from backprop.training.metrics import METRIC_NAMES, METRICS, get_metric
from backprop.training.optimizers import OPTIMIZER_NAMES, OPTIMIZERS, get_optimizer
from backprop.training.schedules import SCHEDULE_NAMES, SCHEDULES, get_schedule

FAMILIES = [
    (LOSSES, LOSS_NAMES, "loss", lambda name: get_loss(name)),
    (OPTIMIZERS, OPTIMIZER_NAMES, "optimiser", lambda name: get_optimizer(name)),
    (SCHEDULES, SCHEDULE_NAMES, "learning-rate schedule", lambda name: get_schedule(name, 0.1, epochs=3)),
    (METRICS, METRIC_NAMES, "metric", lambda name: get_metric(name, get_loss("l2"), 1)),
    (PROFILES, NOTATIONS, "notation", get_profile),
    (DATASETS, DATASETS.names(), "data set", lambda name: DATASETS.get(name).load()),
]


@pytest.mark.parametrize("registry, names, family, lookup", FAMILIES, ids=[f[2] for f in FAMILIES])
def test_each_family_is_one_registry_whose_names_are_the_public_tuple(registry, names, family, lookup):
    assert isinstance(registry, Registry) and registry.family == family and names == registry.names()
    for name in names:
        assert lookup(name) is not None
    with pytest.raises(ConfigError, match=rf"^unknown {family} 'nope'; known: {', '.join(names)}"):
        lookup("nope")


def test_every_loss_declares_what_the_library_asks_of_it():
    from backprop.training.pairing import KINDS
    import numpy as np
    rng = np.random.default_rng(0)
    for name in LOSS_NAMES:
        loss = get_loss(name)
        assert loss.task in ("regression", "binary", "multiclass", "counts"), name
        assert loss.metric in METRIC_NAMES and loss.needs in KINDS and loss.laplace in (None, "regression",
                                                                                       "classification")
        assert loss.fuses_with is None or loss.fuses_with == loss.output
        assert (loss.fused() is not None) == (loss.fuses_with is not None)
        assert bp.get_loss(loss.label()).config() == loss.config()        # its name gives it back
        T = loss.make_targets(rng, 5, 3)
        assert loss.prepare(T, 5, 3, np.float64).shape == (5, 3)
        if loss.needs != "real":
            assert loss.advice
    assert {alias: loss_class(alias) for alias in LOSS_ALIASES} and loss_class("kl") is bp.CrossEntropy


def test_the_estimators_take_the_registered_losses_of_their_tasks():
    pytest.importorskip("sklearn")
    from backprop.sklearn import MLPClassifier, MLPRegressor
    reg = MLPRegressor._parameter_constraints["loss"][0].options
    clf = MLPClassifier._parameter_constraints["loss"][0].options
    assert {"huber", "poisson", "l2", "squared_error", "bce", "binary_kl"} <= reg and "cross_entropy" not in reg
    assert {"huber", "l2", "cross_entropy", "kl", "bce", "log_loss"} <= clf and "poisson" not in clf


def test_the_builtin_data_sets_are_those_of_the_cli():
    from backprop.faces import cli
    assert set(DATASETS.names()) == set(cli.BUILTIN_DATA)
