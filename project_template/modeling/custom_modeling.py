"""Project models: plain ``torch.nn.Module`` s, built by the executors from ``executor.model_config``."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn


class DigitsMLP(nn.Module):
    """A multi-layer perceptron: ``input_dim -> hidden_dims... -> num_classes`` logits.

    >>> import torch
    >>> DigitsMLP(64, [32], 10)(torch.zeros(2, 64)).shape
    torch.Size([2, 10])
    """

    def __init__(self, input_dim: int, hidden_dims: Sequence[int], num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = input_dim
        for hidden in hidden_dims:
            layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden
        layers.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x.float().flatten(1))

    def embed(self, x):
        """The penultimate layer (the last hidden layer's activations): ``[B, hidden_dims[-1]]``."""
        return self.net[:-1](x.float().flatten(1))
