"""What a dataset is: its description (DatasetInfo) and the built-in ones' standard files.

Shared by the registry (lib.data.datasets) and your own images (lib.data.custom), which
describe a saved dataset with the same record.
"""

from __future__ import annotations

from dataclasses import dataclass

IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


class DatasetUnavailable(RuntimeError):
    """The dataset is on no local path and was not (or could not be) downloaded.

    `download_error` is the reason a download that was tried failed; None when none was tried.
    """

    def __init__(self, message: str, download_error: str | None = None):
        super().__init__(message)
        self.download_error = download_error


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    title: str
    class_names: tuple[str, ...]
    input_shape: tuple[int, int, int]
    folder: str  # the standard folder name inside a data dir / the Keras cache
    files: tuple[str, ...]  # what that folder must hold
    description: str
    value_range: tuple[float, float] = (0.0, 1.0)  # after normalisation
    origin: str = ""  # where a user gets `files` by hand, said in the "where to put it" message

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def is_grey(self) -> bool:
        return self.input_shape[-1] == 1


FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip

BUILTIN: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo(
        "mnist", "MNIST handwritten digits", tuple(str(d) for d in range(10)), (28, 28, 1),
        "mnist", IDX_FILES, "70,000 grey 28x28 digits (60,000 train, 10,000 test).",
        origin="the four gzipped IDX files published with MNIST (Keras's mnist.npz in the Keras cache works too)",
    ),
    "fashion_mnist": DatasetInfo(
        "fashion_mnist", "Fashion-MNIST", FASHION_CLASSES, (28, 28, 1),
        "fashion-mnist", IDX_FILES, "70,000 grey 28x28 Zalando clothing images in 10 classes.",
        origin="the four gzipped IDX files published with Fashion-MNIST",
    ),
    "cifar10": DatasetInfo(
        "cifar10", "CIFAR-10", CIFAR10_CLASSES, (32, 32, 3),
        "cifar-10-batches-py", (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"),
        "60,000 colour 32x32 photos in 10 classes (50,000 train, 10,000 test).",
        origin="unpack cifar-10-python.tar.gz (the CIFAR-10 'python version') in the data folder",
    ),
    "cifar100": DatasetInfo(
        "cifar100", "CIFAR-100", tuple(f"class {i}" for i in range(100)), (32, 32, 3),
        "cifar-100-python", ("train", "test", "meta"),
        "60,000 colour 32x32 photos in 100 fine classes.",
        origin="unpack cifar-100-python.tar.gz (CIFAR-100's 'python version') in the data folder",
    ),
}  # fmt: skip
