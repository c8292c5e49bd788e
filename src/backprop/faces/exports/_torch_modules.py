"""PyTorch modules for the activations torch.nn lacks (imported only by to_torch/from_torch: it imports torch)."""
import torch


class Exp(torch.nn.Module):
    """y = e^z, elementwise (backprop's "exp" activation, the mean of a Poisson output)."""

    def forward(self, z):
        return torch.exp(z)
