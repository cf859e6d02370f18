"""One display name per architecture and dataset, on every page.

Pages and the ui show titles ('ResNet-20 on CIFAR-10'); the ids (resnet_small, cifar10) appear
only where a user types them: the command line, code, and sweep specifications.
"""

from __future__ import annotations

from lib import models
from lib.data import datasets

architecture = models.title
dataset = datasets.title


def subject(architecture_id: str, dataset_id: str) -> str:
    """'LeNet-5 on MNIST handwritten digits'."""
    return f"{models.title(architecture_id)} on {datasets.title(dataset_id)}"
