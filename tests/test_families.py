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
    from backprop.faces.cli import data
    assert data.BUILTIN_DATA is DATASETS


def test_a_loss_defined_outside_the_library_traces_with_its_values_where_it_declares_no_rows():
    import numpy as np

    class Quartic(bp.Loss):                     # Div = 1/4 sum (y - d)^4, fused with exp on the logits
        name = "quartic"
        fuses_with = output = "exp"

        def div(self, y, d):
            return 0.25 * ((y - d) ** 4).sum(axis=1)

        def grad(self, y, d):
            return (y - d) ** 3

        def hvp(self, y, d, ty):
            return 3 * (y - d) ** 2 * ty

        def fused(self):
            base = self

            class OnLogits(bp.Loss):
                name = "quartic"

                def div(self, z, d):
                    return base.div(np.exp(z), d)

                def grad(self, z, d):
                    return base.grad(np.exp(z), d) * np.exp(z)

                def hvp(self, z, d, tz):
                    y = np.exp(z)
                    return (3 * (y - d) ** 2 * y * y + (y - d) ** 3 * y) * tz
            return OnLogits()

    net = bp.MLP([2, 2, 1], hidden="tanh", output="exp", seed=0)
    tr = bp.trace(net, [0.3, -0.4], 0.5, loss=Quartic())
    value, grad = bp.loss_and_grad(net, Quartic(), np.array([[0.3, -0.4]]), np.array([[0.5]]))
    rows = {s.quantity: s for s in tr.steps}
    assert rows["E"].value == value and rows["E"].symbolic.startswith("quartic(")
    assert rows["dE/dx(o1)"].symbolic == "dDiv/dx(o1)"            # no formula it did not declare
    assert float(rows["dE/dx(o1)"].numeric.strip("()")) == pytest.approx(rows["dE/dx(o1)"].value, rel=1e-5)
    assert "trace of one instance" in str(tr)
    H = bp.hessian_trace(net, [0.3, -0.4], 0.5, loss=Quartic())
    assert str(H)
