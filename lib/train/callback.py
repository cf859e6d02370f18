"""The streaming callback: training progress into the store, stop requests out of it.

Keras hands batch-end logs over as running means for the epoch. Writing every
batch would cost more than a small model's step, so the callback writes at most
`interval` seconds apart, and records the exact mean loss of the batches since
its last write (from two running means), which is what a raw-loss chart wants.
It is marked async-safe, so Keras calls it on a helper thread and the training
loop never waits for the store.
"""

from __future__ import annotations

import threading
import time

import keras

from lib import atomic_files
from lib.inference.metrics import confusion_matrix, row_normalised
from lib.runs.disk import ensure_free_space, estimate_model_bytes
from lib.runs.progress import BatchRow, Progress
from lib.train import faults

CHECKPOINT_FLOOR_BYTES = 4 * 2**20  # a first save, before any size is known, still wants this much


def save_model(model, path, fault_point: str = "checkpoint") -> None:
    """Save `model` to `path` atomically, after checking the disk has room for it.

    The room needed is twice the previous save of this file (the new copy is written beside
    the old one until the rename), or ~12 bytes a parameter for a first save, never less
    than a floor. Keras writes a temporary .keras file; the old file is replaced only once
    the new one is complete and fsynced, so a kill or a full disk leaves the last good save.
    """
    atomic_files.remove_stale_temps(path)  # a killed save's leftovers count against the free space
    expected = estimate_model_bytes(path if path.exists() else None, model.count_params())
    ensure_free_space(path.parent, max(2 * expected, CHECKPOINT_FLOOR_BYTES))
    with atomic_files.replacing(path) as temp:
        model.save(temp)
        if path.exists():  # the tests' SIGKILL, mid-save, when there is a previous good file to lose
            faults.inject(f"kill-during-{fault_point}-save")


class StoreCallback(keras.callbacks.Callback):
    async_safe = True  # called from Keras's executor thread; state is guarded by a lock

    def __init__(
        self,
        store,
        run_id,
        epochs,
        steps_per_epoch,
        batch_size,
        train_size,
        initial_epoch=0,
        interval=0.25,
        val_slice=None,
        num_classes=None,
        time_limit_s=None,
    ):
        super().__init__()
        self.val_slice, self.num_classes = val_slice, num_classes
        self.time_limit_s = time_limit_s
        self.time_limited = False
        self._initial_epoch = initial_epoch
        self.store, self.run_id = store, run_id
        self.epochs, self.steps, self.batch_size = epochs, steps_per_epoch, batch_size
        self.train_size = train_size
        self.interval = interval
        self.stop_file = store.stop_file(run_id)
        self.stopped = False  # a stop request (or the time limit) cut the run short of its epochs
        self.partial_epoch = None  # (epoch, batches done) of an epoch a stop cut short: not a completed epoch
        self._batches_run = 0
        self._lock = threading.Lock()
        self._best = None

    # -- helpers -------------------------------------------------------------
    def _over_time(self) -> bool:
        """The administrator's run-time limit (lib.runs.access), stamped into the run's config."""
        if not self.time_limit_s or time.perf_counter() - self._train_start < self.time_limit_s:
            return False
        self.time_limited = True
        return True

    def _progress(self, epoch, batch, **measured) -> Progress:
        """The record for `batch` batches done in Keras's 0-based `epoch`."""
        batch = min(batch, self.steps)  # with steps_per_execution, Keras may report past the last batch
        elapsed = time.perf_counter() - self._train_start
        done = (epoch - self._initial_epoch) * self.steps + batch
        total = (self.epochs - self._initial_epoch) * self.steps
        eta = elapsed / done * (total - done) if done else None
        return Progress("training", epoch + 1, self.epochs, batch, self.steps, eta, elapsed, **measured)

    def _learning_rate(self) -> float | None:
        try:
            return float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        except Exception:  # an optimizer without a readable rate must not stop training
            return None

    # -- Keras hooks ---------------------------------------------------------
    def on_train_begin(self, logs=None):
        self._train_start = time.perf_counter()
        self._last_write = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        with self._lock:
            self._epoch, self._epoch_start = epoch, time.perf_counter()
            self._seen, self._loss_sum, self._acc_sum = 0, 0.0, 0.0
            self._batches_run = 0

    def on_train_batch_end(self, batch, logs=None):
        faults.inject("oom")
        with self._lock:  # async calls may come out of order: the highest batch is how far the epoch got
            self._batches_run = max(self._batches_run, min(batch + 1, self.steps))
        if not self.stopped and (self.stop_file.exists() or self._over_time()):  # one stat() per batch
            self.stopped = True
            self.model.stop_training = True
        now = time.perf_counter()
        if now - self._last_write < self.interval or not logs:
            return
        with self._lock:
            done = min(batch + 1, self.steps)
            if done <= self._seen:  # out-of-order call from the executor
                return
            loss_sum = logs.get("loss", 0.0) * done
            acc_sum = logs.get("accuracy", 0.0) * done
            window = done - self._seen
            row = BatchRow(
                step=self._epoch * self.steps + done - 1,
                epoch=self._epoch + 1,
                batch=done,
                loss=(loss_sum - self._loss_sum) / window,
                accuracy=(acc_sum - self._acc_sum) / window,
                time=time.time(),
            )
            self._seen, self._loss_sum, self._acc_sum = done, loss_sum, acc_sum
            self._last_write = now
            seconds = now - self._epoch_start
            progress = self._progress(
                self._epoch,
                done,
                loss=logs.get("loss"),
                accuracy=logs.get("accuracy"),
                images_per_second=done * self.batch_size / seconds if seconds else None,
            )
        self.store.update_progress(self.run_id, progress, [row])

    def on_epoch_end(self, epoch, logs=None):
        if self.stopped and self._batches_run < self.steps:
            # Keras ends an epoch it broke off like a full one; counting it would list a run stopped
            # in its last epoch as 'stopped 3/3'. Its batches stay in the kept model, not in the curves,
            # and last.keras stays the end of the last whole epoch, where a resume starts again.
            self.partial_epoch = (epoch + 1, self._batches_run)
            return
        if self.stopped and epoch + 1 == self.epochs:  # the stop came at the last batch: nothing was cut
            self.stopped = self.time_limited = False
        logs = logs or {}
        seconds = time.perf_counter() - self._epoch_start
        images = min(self.steps * self.batch_size, self.train_size)
        row = {
            "epoch": epoch + 1,
            "loss": logs.get("loss"),
            "accuracy": logs.get("accuracy"),
            "val_loss": logs.get("val_loss"),
            "val_accuracy": logs.get("val_accuracy"),
            "learning_rate": self._learning_rate(),
            "images_per_second": images / seconds if seconds else None,
            "seconds": seconds,
            **self._confusion(),
        }
        self.store.add_epoch(self.run_id, row)
        self._save_checkpoints(logs)
        progress = self._progress(epoch, self.steps, loss=row["loss"], accuracy=row["accuracy"])
        self.store.update_progress(self.run_id, progress, epochs_completed=epoch + 1)

    def _confusion(self) -> dict:
        """Confusion matrix and per-class accuracy on a fixed validation slice, for the live view."""
        if self.val_slice is None or not len(self.val_slice[0]):
            return {}
        start = time.perf_counter()
        x, y = self.val_slice
        predicted = self.model.predict(x, batch_size=512, verbose=0).argmax(axis=1)
        counts = confusion_matrix(y, predicted, self.num_classes)
        return {
            "confusion": counts.tolist(),
            "per_class_accuracy": [float(v) for v in row_normalised(counts).diagonal()],
            "confusion_seconds": time.perf_counter() - start,
        }

    def _save_checkpoints(self, logs):
        """last.keras every epoch (with optimizer state, for resume); best.keras on a new best."""
        faults.inject("disk-full")
        save_model(self.model, self.store.model_path(self.run_id, "last"))
        score = logs.get("val_accuracy", logs.get("accuracy"))
        if score is not None and (self._best is None or score > self._best):
            self._best = score
            save_model(self.model, self.store.model_path(self.run_id, "best"))
