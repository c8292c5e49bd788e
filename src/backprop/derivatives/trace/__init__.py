"""A trace of one instance, node by node: every number of the forward and backward pass, with its formula.

For one input x and target t, ``bp.trace`` records what the derivation computes at every
scalar node j and every edge i -> j, in the order it is computed:

    forward, node by node in order:     x_j = sum_{i in in(j)} w_ij y_i + b_j,   y_j = f(x_j)
    the terminal node:                  E = Div(y_out, t)
    backward, level by level in reverse: dE/dy_i = sum_{j in out(i)} w_ij dE/dx_j
                                         dE/dx_j = f'(x_j) dE/dy_j
                                         dE/dw_ij = y_i dE/dx_j (+ lambda w_ij with L2),  dE/db_j = dE/dx_j

When the loss is taken on the logits of the output activation (sigmoid + bce, softmax +
cross_entropy, exp + poisson), as the engine does, E is written in the logits (softplus,
logsumexp) and the backward pass starts at dE/dx_o = y_o - t_o: finite and exact however
saturated the output is, with no log(0) or 0 * inf to redo.

Every step carries the formula in symbols and with the numbers filled in, so a student can
redo it by hand. The numbers come from the same engine that trains the network (they are not
recomputed by a second implementation); the formulas show how each one follows from the
others. Prints as a table (``str(trace)``); ``bp.draw_trace`` draws the network with the
values on the nodes and the gradients on the edges.

The package: ``steps`` records the numbers and their formulas (``bp.trace``, ``Trace``), ``formulas`` formats
the numbers in them, ``table`` prints them; the loss rows come from the losses' declarations.
"""
# the helpers the batch and Hessian traces use too
from .formulas import _factor as _factor, _fmt as _fmt, _join_sum as _join_sum
from .steps import Trace, TraceStep, _as_network as _as_network, default_loss, neuron_backprop, trace


__all__ = ["Trace", "TraceStep", "default_loss", "neuron_backprop", "trace"]
