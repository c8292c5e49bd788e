"""backprop over a Dask data set: the same objective, derivatives and training, as sums over row blocks.

Everything backprop computes over a data set is a sum over samples. With X (and T) as Dask arrays
chunked along the samples, each block's partial sum is computed where the block lives (the workers
of a ``distributed.Client`` if one exists, else Dask's default scheduler), the parameters go out once
per evaluation as the network's JSON description plus its parameter vector, and the driver adds the
blocks' terms, weighted by their share of the samples (or of the total sample weight), and the L2
term once. The public functions (``backprop.loss_and_grad``, ``hvp``, ``gnvp``, ``gauss_newton``,
``gauss_newton_diag``, ``hessian``, ``hessian_diag``, ``check_gradient``, ``jacobian``,
``Network.predict``, ``minimize``, ``Laplace``, ``train``) hand Dask inputs to this package by
themselves (see ``backprop.dispatch``); its functions can also be called directly, and take
``sample_weight``.

Needs the optional dependencies: ``pip install 'backprop-exact[dask]'``.
"""
from .. import dispatch as _dispatch
from .blocks import check_gradient, jacobian, predict
from .estimators import batch_objective, estimator_fit, estimator_partial_fit
from .posterior import laplace_curvature, laplace_predict
from .shards import ClusterError, Shards
from .solve import minimize
from .streaming import train
from .sums import gauss_newton, gauss_newton_diag, gnvp, hessian, hessian_diag, hvp, loss_and_grad

__all__ = ["loss_and_grad", "hvp", "gnvp", "gauss_newton", "gauss_newton_diag", "hessian", "hessian_diag",
           "check_gradient", "jacobian", "predict", "minimize", "train", "Shards", "ClusterError"]

for _name in ("loss_and_grad", "hvp", "gnvp", "gauss_newton", "gauss_newton_diag", "hessian", "hessian_diag",
              "check_gradient", "jacobian", "predict", "minimize", "laplace_curvature", "laplace_predict",
              "train", "estimator_fit", "estimator_partial_fit", "batch_objective"):
    _dispatch.register_dask(_name, globals()[_name])
