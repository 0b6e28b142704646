"""The reference network of pytorch/examples mnist/main.py, unchanged (1,199,882 parameters)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Net(nn.Module):
    """Two convolutions, max-pool, two fully connected layers; log-probabilities out."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)  # (N,1,28,28) → (N,32,26,26)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)  # → (N,64,24,24)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)  # 9216 = 64 channels × 12 × 12 after the pool
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)  # (N,64,24,24) → (N,64,12,12)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)  # → (N,9216)
        x = F.relu(self.fc1(x))
        x = self.dropout2(x)
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)  # (N,10) log-probabilities, for F.nll_loss


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
