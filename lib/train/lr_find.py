"""The learning-rate finder's run, in the worker: ramp the rate batch by batch, record the loss.

A run whose config says `extra["kind"] == "lr_find"` comes here instead of a full
training run (lib.train.worker chooses). The model, data and optimizer are the
run's own; the rate rises exponentially from the ramp's start to its end, one
step per batch, through as many passes over the data as that takes. It stops
at the end of the ramp, when the loss blows up, or on a stop request. The maths
(ramp, divergence, suggestion) is lib.sweeps.lr_finder's.
"""

from __future__ import annotations

import math
import time

import keras

from lib.data import datasets
from lib.runs.progress import BatchRow, Progress
from lib.sweeps import lr_finder
from lib.train import faults
from lib.train.fit import build_model, describe_device, has_gpu, make_dataset

WRITE_EVERY_S = 0.25  # progress and loss rows reach the store a few times a second, not every batch


class RateRamp(keras.callbacks.Callback):
    """Sets the rate before each batch and records (rate, loss) after it."""

    def __init__(self, ramp: lr_finder.RateRange, store, run_id: str):
        super().__init__()
        self.ramp, self.store, self.run_id = ramp, store, run_id
        self.rates: list[float] = []
        self.losses: list[float] = []
        self.divergence = lr_finder.Divergence(ramp)
        self.stop_file = store.stop_file(run_id)
        self.stopped = self.diverged = False
        self._pending: list[BatchRow] = []
        self._last_write = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._mean_before = 0.0  # Keras reports the epoch's running mean; the batch's own loss is recovered

    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate.assign(self.ramp.rate(len(self.losses)))

    def on_train_batch_end(self, batch, logs=None):
        faults.inject("oom")
        mean = float((logs or {}).get("loss", math.nan))
        loss = mean * (batch + 1) - self._mean_before * batch
        self._mean_before = mean
        step = len(self.losses)
        self.rates.append(self.ramp.rate(step))
        self.losses.append(loss)
        self._pending.append(BatchRow(step, 1, step + 1, loss if math.isfinite(loss) else None, None, time.time()))
        if self.divergence.update(loss):
            self.diverged = True
        if self.stop_file.exists():
            self.stopped = True
        if self.diverged or self.stopped or len(self.losses) >= self.ramp.steps:
            self.model.stop_training = True
        now = time.perf_counter()
        if self.model.stop_training or now - self._last_write >= WRITE_EVERY_S:
            self._last_write = now
            self.store.update_progress(self.run_id, self.progress(loss), self._pending)
            self._pending = []

    def progress(self, loss: float) -> Progress:
        """One 'epoch' of `steps` batches: the ramp, however many passes over the data it takes."""
        return Progress(
            "training",
            epoch=1,
            epochs=1,
            batch=len(self.losses),
            steps=self.ramp.steps,
            loss=loss if math.isfinite(loss) else None,
        )


def find_rate(store, run_id: str) -> dict:
    """Run the ramp for `run_id`; record the curve and the suggested rate (or why there is none)."""
    run = store.get(run_id)
    config = run.config
    ramp = lr_finder.ramp_of(config)
    store.set_device(run_id, describe_device())
    store.update_progress(run_id, Progress("loading data"))
    data = datasets.prepare(config.dataset, config.data_dir, config.train_limit, config.validation_split, config.seed)
    keras.utils.set_random_seed(config.seed)
    if config.mixed_precision and has_gpu():
        keras.mixed_precision.set_global_policy("mixed_float16")
    steps_per_pass = math.ceil(len(data.x_train) / config.batch_size)
    model = build_model(config, data.info, steps_per_pass)  # steps_per_execution is 1: every batch reports
    train_ds = make_dataset(data.x_train, data.y_train, config.batch_size, config.seed)
    recorder = RateRamp(ramp, store, run_id)
    store.update_progress(run_id, recorder.progress(math.nan))
    start = time.perf_counter()
    model.fit(
        train_ds,
        epochs=math.ceil(ramp.steps / steps_per_pass),
        callbacks=[recorder],
        shuffle=False,  # tf.data reshuffles every pass
        verbose=0,
    )
    found = lr_finder.result(recorder.rates, recorder.losses)
    found.update(diverged=recorder.diverged, seconds=time.perf_counter() - start, batches=len(recorder.losses))
    status = "stopped" if recorder.stopped else "completed"
    store.finish(run_id, status, error=found.get("problem"), epochs_completed=0, lr_find=found)
    return {"status": status, **found}
