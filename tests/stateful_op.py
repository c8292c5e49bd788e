"""A test-only op with a mode and buffers, registered while a test runs (the ``centering`` fixture).

Centering: y = x - mu + b, with a parameter b and mu the batch mean of x (over the rows) in training
mode and the running mean at inference; a running mean, a running variance and a counter are its
buffers, updated by ``update_state`` the way BatchNorm updates its own (momentum 0.1). It couples the rows of a batch in training mode, so it
stands for every batch-coupled op in the guard tests and for every op with state in the buffer tests.
"""
import numpy as np

from backprop.ops.base import Op, Param, State, write
from backprop.ops.fields import Size
from backprop.ops.registry import OPS, load_ops

NAME = "test_centering"


class Centering(Op):
    has_modes = True
    config_fields = (Size("size"),)

    def __init__(self, size):
        self.size = int(size)
        self.training = False
        self.param_specs = (Param("bias", (self.size,)),)
        self.state_specs = (State("running_mean", (self.size,)), State("running_var", (self.size,), minimum=0.0),
                            State("num_batches_tracked", (), "int"))

    def init_state(self, dtype):
        super().init_state(dtype)
        self.state["running_var"][...] = 1

    @property
    def batch_coupled(self):
        return self.training

    # y = x - mean_n(x) + b in training, x - running_mean + b at inference
    def forward(self, xs, p):
        x = xs[0]
        mu = x.mean(axis=0) if self.training else self.state["running_mean"]
        return x - mu + p[0], None

    # dE/dx = dE/dy - mean_n(dE/dy) in training (dE/dy at inference);  dE/db = sum_n dE/dy
    def vjp(self, at, dy, *, gp, need):
        if gp is not None:
            write(gp[0], dy.sum(axis=0))
        return [dy - dy.mean(axis=0) if self.training else dy]

    # R{y} = R{x} - mean_n(R{x}) + R{b} in training
    def jvp(self, at, txs, tp):
        t = txs[0]
        out = None if t is None else (t - t.mean(axis=-2, keepdims=True) if self.training else t)
        if tp is not None:
            out = tp[0][:, None, :] + (0 if out is None else out)
        return out

    # R{dE/dx} = R{dE/dy} - mean_n(R{dE/dy});  R{dE/db} = sum_n R{dE/dy}  (linear: no second-order term)
    def vjp_tangent(self, at, dy, tdy, txs, ty, tp, *, tgp, need):
        if tgp is not None:
            write(tgp[0], None if tdy is None else tdy.sum(axis=-2))
        if tdy is None:
            return [None]
        return [tdy - tdy.mean(axis=-2, keepdims=True) if self.training else tdy]

    def update_state(self, at):
        x = at.xs[0]
        s = self.state
        s["running_mean"] = 0.9 * s["running_mean"] + 0.1 * x.mean(axis=0)
        s["running_var"] = 0.9 * s["running_var"] + 0.1 * (x.var(axis=0, ddof=1) if len(x) > 1 else 0.0)
        s["num_batches_tracked"] = s["num_batches_tracked"] + 1


def install():
    """Register the op (its typed fields are its model-file schema); returns a function that removes it again."""
    load_ops()
    OPS.register(NAME, Centering)
    Centering.op_name = NAME

    def remove():
        del OPS._members[NAME]
    return remove
