"""PyTorch modules for the activations torch.nn lacks (imported only by to_torch/from_torch: it imports torch)."""
from typing import Any

import torch


class Exp(torch.nn.Module):  # type: ignore[misc]  # (torch's types are not followed: Module is Any)
    """y = e^z, elementwise (backprop's "exp" activation, the mean of a Poisson output).

    Examples
    --------
    >>> float(Exp()(torch.zeros(1))[0])
    1.0
    """

    def forward(self, z: Any) -> Any:
        """e^z of a tensor."""
        return torch.exp(z)
