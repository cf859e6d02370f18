"""Dataset registry and loaders that work without a network.

A dataset is looked for, in order, in: a data folder the user names
(`--data-dir` / CONVSTUDIO_DATA_DIR) holding the dataset's standard files, the
Keras cache (~/.keras/datasets), Debian's /usr/share/datasets/. Only then is a
download through keras.datasets tried (never in offline mode), and a missing
dataset becomes a DatasetUnavailable whose message says where it was looked
for, what became of the download and where to put which files.
"""

from __future__ import annotations

import functools
import gzip
import pickle
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lib import settings
from lib.data import custom, overlay
from lib.data.info import BUILTIN, IDX_FILES, DatasetInfo, DatasetUnavailable

DOWNLOAD_TIMEOUT_S = 30
DEBIAN_ROOT = Path("/usr/share/datasets")


def names() -> list[str]:
    return list(BUILTIN) + custom.saved_names()


def info(name: str) -> DatasetInfo:
    if name not in BUILTIN and custom.is_saved(name):
        return custom.info(name)
    try:
        return BUILTIN[name]
    except KeyError:
        raise DatasetUnavailable(f"unknown dataset {name!r}; choose one of {', '.join(names())}") from None


def title(name: str) -> str:
    """The one display name of a dataset ('MNIST handwritten digits'); a removed one keeps its id."""
    try:
        return info(name).title
    except (DatasetUnavailable, ValueError, OSError):  # a custom dataset deleted or damaged since its runs
        return name


def default_data_dir() -> str | None:
    return str(settings.data_root())


def keras_cache_dir() -> Path:
    return settings.keras_home() / "datasets"


# -- where is it? ----------------------------------------------------------
def candidate_folders(name: str, data_dir: str | None = None) -> list[Path]:
    """Folders that may hold the dataset's standard files, in the order they are tried."""
    meta = info(name)
    data_dir = data_dir or default_data_dir()
    folders = []
    if data_dir:
        folders.append(Path(data_dir) / meta.folder)
    folders.append(keras_cache_dir() / meta.folder)
    folders += [DEBIAN_ROOT / meta.folder, DEBIAN_ROOT / name]
    return folders


def locate(name: str, data_dir: str | None = None) -> Path | None:
    """The first folder holding all the dataset's files, or None."""
    for folder in candidate_folders(name, data_dir):
        if all((folder / f).is_file() for f in info(name).files):
            return folder
    if name == "mnist" and (keras_cache_dir() / "mnist.npz").is_file():
        return keras_cache_dir()  # Keras caches MNIST as one .npz
    return None


def is_available(name: str, data_dir: str | None = None) -> bool:
    return locate(name, data_dir) is not None


def where_to_put(
    name: str, data_dir: str | None = None, *, download_error: str | None = None, download_allowed: bool = True
) -> str:
    """The message a user sees when a dataset cannot be found: where it was looked for, what became
    of a download (tried and failed, or not tried and why) and which files to put where."""
    meta = info(name)
    tried = "\n".join(f"  - {p}" for p in candidate_folders(name, data_dir))
    target = Path(data_dir or default_data_dir()) / meta.folder
    hint = " (apt-get install dataset-fashion-mnist provides it)" if name == "fashion_mnist" else ""
    origin = f"\nWhere to get them: {meta.origin}." if meta.origin else ""
    return (
        f"{meta.title} is not available offline: its files are not on this server.\n"
        f"Looked for its files in:\n{tried}\n"
        f"{_download_note(download_error, download_allowed)}\n\n"
        f"To add it by hand:\nPut these files (all {len(meta.files)}):\n  {', '.join(meta.files)}\n"
        f"into this folder (create it if needed):\n  {target}{origin}\n"
        f"Another data folder works too: a folder named '{meta.folder}' inside it, passed with "
        f"--data-dir or CONVSTUDIO_DATA_DIR{hint}."
    )


def _download_note(download_error: str | None, download_allowed: bool) -> str:
    """What became of a download, so no message says 'could not be downloaded' when none was tried."""
    if download_error:
        return f"Download through Keras: tried, download failed: {download_error}"
    if settings.offline():
        return "Download: not tried, because offline mode is on (CONVSTUDIO_OFFLINE)."
    if not download_allowed:
        return "Download: not tried (this step reads local files only)."
    return "Download: not tried yet."


# -- loading ---------------------------------------------------------------
def load_raw(name: str, data_dir: str | None = None, allow_download: bool = True):
    """((x_train, y_train), (x_test, y_test)) as uint8 images (N, H, W, C) and int labels."""
    if name not in BUILTIN:  # a saved custom dataset: lazy ImageFiles that stream from disk
        return custom.load_files(info(name).name)
    return load_builtin(name, data_dir, allow_download)


@functools.lru_cache(maxsize=4)
def load_builtin(name: str, data_dir: str | None = None, allow_download: bool = True):
    """load_raw for a built-in dataset, kept in memory: its files never change under a name."""
    folder = locate(name, data_dir)
    if folder is not None:
        (xtr, ytr), (xte, yte) = _read_folder(name, folder)
    elif allow_download and not settings.offline():
        (xtr, ytr), (xte, yte) = _download(name, data_dir)
    else:
        raise DatasetUnavailable(where_to_put(name, data_dir, download_allowed=allow_download))
    shape = info(name).input_shape
    xtr, xte = (x.reshape((-1, *shape)) for x in (xtr, xte))
    return (xtr, ytr.astype(np.int64).ravel()), (xte, yte.astype(np.int64).ravel())


def _read_folder(name: str, folder: Path):
    if name in ("mnist", "fashion_mnist"):
        if not (folder / IDX_FILES[0]).is_file():
            with np.load(folder / "mnist.npz") as data:
                return (data["x_train"], data["y_train"]), (data["x_test"], data["y_test"])
        xtr, ytr, xte, yte = (read_idx(folder / f) for f in IDX_FILES)
        return (xtr, ytr), (xte, yte)
    if name == "cifar10":
        batches = [_read_cifar_batch(folder / f"data_batch_{i}", b"labels") for i in range(1, 6)]
        xtr = np.concatenate([b[0] for b in batches])
        ytr = np.concatenate([b[1] for b in batches])
        return (xtr, ytr), _read_cifar_batch(folder / "test_batch", b"labels")
    if name == "cifar100":
        return (
            _read_cifar_batch(folder / "train", b"fine_labels"),
            _read_cifar_batch(folder / "test", b"fine_labels"),
        )
    raise DatasetUnavailable(f"no reader for {name!r}")


def read_idx(path: Path) -> np.ndarray:
    """Read an MNIST IDX file (gzip or plain); refuse anything whose header lies."""
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as exc:
        raise DatasetUnavailable(f"{path} is not a readable IDX file ({exc})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DatasetUnavailable(f"{path} is not an IDX file of unsigned bytes")
    ndim = data[3]
    header = 4 + 4 * ndim
    dims = struct.unpack(f">{ndim}I", data[4:header])
    if len(data) - header != int(np.prod(dims)):
        raise DatasetUnavailable(f"{path} is truncated or corrupt (size does not match its header)")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _read_cifar_batch(path: Path, label_key: bytes):
    with open(path, "rb") as f:
        batch = pickle.load(f, encoding="bytes")  # noqa: S301 - the standard CIFAR format is a pickle
    x = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return x, np.asarray(batch[label_key])


def _download(name: str, data_dir: str | None):
    """keras.datasets download with a connect/read timeout, so no hang offline."""
    import keras

    loader = {
        "mnist": keras.datasets.mnist.load_data,
        "fashion_mnist": keras.datasets.fashion_mnist.load_data,
        "cifar10": keras.datasets.cifar10.load_data,
        "cifar100": keras.datasets.cifar100.load_data,
    }[name]
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        return loader()
    except Exception as exc:  # any network or archive failure
        reason = str(exc) or type(exc).__name__
        raise DatasetUnavailable(where_to_put(name, data_dir, download_error=reason), reason) from None
    finally:
        socket.setdefaulttimeout(previous)


# -- preparing for training -----------------------------------------------
@dataclass
class Prepared:
    info: DatasetInfo
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def normalise(x: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] -> float32 [0, 1], the input every model here expects."""
    if not isinstance(x, np.ndarray):
        return x  # custom.ImageFiles: scaled as it streams (ImageFiles.decode)
    return x.astype(np.float32) / 255.0


def stratified_indices(labels: np.ndarray, count: int, seed: int) -> np.ndarray:
    """`count` indices drawn so each class keeps its share (largest-remainder rounding)."""
    rng = np.random.default_rng(seed)
    classes, sizes = np.unique(labels, return_counts=True)
    exact = sizes * count / len(labels)
    quota = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - quota))[: count - quota.sum()]:
        quota[i] += 1
    picked = [rng.permutation(np.flatnonzero(labels == c))[:q] for c, q in zip(classes, quota, strict=True)]
    return rng.permutation(np.concatenate(picked))


def prepare(
    name: str,
    data_dir: str | None = None,
    train_limit: int = 0,
    validation_split: float = 0.1,
    seed: int = 42,
) -> Prepared:
    (xtr, ytr), (xte, yte) = load_raw(name, data_dir)
    xtr, ytr = overlay.apply(name, xtr, ytr)  # a built-in's relabelled / excluded images; its files unchanged
    if train_limit and train_limit < len(ytr):
        keep = stratified_indices(ytr, train_limit, seed)
        xtr, ytr = xtr[keep], ytr[keep]
    n_val = int(round(len(ytr) * validation_split))
    val = stratified_indices(ytr, n_val, seed + 1) if n_val else np.array([], dtype=int)
    train = np.setdiff1d(np.arange(len(ytr)), val)
    train = np.random.default_rng(seed).permutation(train)
    return Prepared(
        info(name),
        normalise(xtr[train]),
        ytr[train],
        normalise(xtr[val]),
        ytr[val],
        normalise(xte),
        yte,
    )
