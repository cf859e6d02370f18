"""Training one run: data pipeline, compile, fit with the streaming callback, evaluate, save.

Runs inside the worker process (lib.runs.scheduler), never inside Streamlit. Reads the
run's config from the store and writes everything it learns back to it.
"""

from __future__ import annotations

import math
import time

from lib import models
from lib.config import TrainConfig
from lib.data import datasets
from lib.model_files import load_model, loads
from lib.runs.progress import Progress
from lib.teach import finetune as teach
from lib.teach import pretrained
from lib.train.callback import StoreCallback, save_model

FINAL_WAIT_S = 600  # a run's result is worth waiting for when another program holds the store
VAL_SLICE = 1000  # validation images behind the live confusion matrix (cheap: one predict per epoch)


# -- device ------------------------------------------------------------------
def describe_device() -> str:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        import os

        return f"CPU ({os.cpu_count()} cores)"
    names = []
    for gpu in gpus:
        details = tf.config.experimental.get_device_details(gpu)
        names.append(details.get("device_name", gpu.name))
    return ", ".join(names)


def distribution(config: TrainConfig):
    """MirroredStrategy over every visible GPU when asked for and there are several; else the default."""
    import tensorflow as tf

    if config.multi_gpu and len(tf.config.list_physical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def has_gpu() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


# -- data pipeline -----------------------------------------------------------
def augmentation(config: TrainConfig, grey: bool):
    """Keras preprocessing layers, run inside tf.data (graph code, no Python per image)."""
    if not config.augments:
        return None
    import keras
    from keras import layers

    fill = "constant" if grey else "reflect"  # digits sit on black; photos continue at the edges
    steps = []
    if config.augment_shift:
        s = config.augment_shift
        steps.append(layers.RandomTranslation(s, s, fill_mode=fill, seed=config.seed))
    if config.augment_rotation:
        steps.append(layers.RandomRotation(config.augment_rotation / 360.0, fill_mode=fill, seed=config.seed))
    if config.augment_zoom:
        steps.append(layers.RandomZoom(config.augment_zoom, fill_mode=fill, seed=config.seed))
    if config.augment_flip:
        steps.append(layers.RandomFlip("horizontal", seed=config.seed))
    return keras.Sequential(steps, name="augmentation")


def make_dataset(x, y, batch_size, shuffle_seed=None, augment=None):
    import tensorflow as tf

    files = getattr(x, "paths", None)  # a custom dataset (ImageFiles): only file names are in memory
    ds = tf.data.Dataset.from_tensor_slices((x if files is None else files, y))
    if shuffle_seed is not None:
        ds = ds.shuffle(len(x), seed=shuffle_seed, reshuffle_each_iteration=True)
    if files is not None:  # decoded after the shuffle, as batches stream from disk
        ds = ds.map(x.decode, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(batch_size)
    if augment is not None:
        ds = ds.map(lambda a, b: (augment(a, training=True), b), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def in_memory(x):
    """Images as an array: a custom dataset's ImageFiles are decoded (for a small slice only)."""
    return x.to_array() if hasattr(x, "to_array") else x


# -- model -------------------------------------------------------------------
def make_optimizer(config: TrainConfig, steps_per_epoch: int):
    import keras

    lr = config.learning_rate
    if config.lr_schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(lr, decay_steps=max(1, config.epochs * steps_per_epoch))
    decay = config.weight_decay or None
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(lr, momentum=0.9, nesterov=True, weight_decay=decay)
    if config.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(lr, weight_decay=decay)
    if config.optimizer == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=config.weight_decay or 1e-4)
    return keras.optimizers.Adam(lr, weight_decay=decay)


def auto_steps_per_execution(steps_per_epoch: int) -> int:
    """Batches per compiled call: fewer Python round trips, still at least 16 progress updates an epoch.

    Measured here: LeNet-5 on MNIST trains ~18% faster at 16 than at 1 on a CPU; on a GPU small
    models gain more. jit_compile stays Keras's "auto": XLA on a GPU, off on a CPU.
    """
    return max(1, min(32, steps_per_epoch // 16))


def batchnorm_momentum(total_steps: int) -> float:
    """BatchNorm's moving-average momentum for a run of `total_steps` batches.

    Keras's 0.99 averages over ~100 steps and still holds 13% of its starting
    statistics (mean 0, variance 1) after 200: a short run then tests with
    statistics that never matched its weights (LeNet-5 + BatchNorm, 3 epochs of
    5,000 images: 80% test accuracy against 95% in training). Forgetting within
    a twentieth of the run fixes that; long runs keep Keras's 0.99.
    """
    return min(0.99, max(0.9, 1.0 - 20.0 / max(1, total_steps)))


def fit_batchnorm_to_run(model, total_steps: int) -> None:
    import keras

    momentum = batchnorm_momentum(total_steps)
    pending = list(model.layers)
    while pending:  # nested models too (a pretrained backbone)
        layer = pending.pop()
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = momentum
        pending.extend(getattr(layer, "layers", []))


def build_model(config: TrainConfig, info: datasets.DatasetInfo, steps_per_epoch: int):
    pretrained.require_weights(config.architecture)  # a missing weights file: a clear message, not random weights
    model = models.build(
        config.architecture,
        info.input_shape,
        info.num_classes,
        dropout=config.dropout,
        batchnorm=config.batchnorm,
        width=config.width,
    )
    teach.prepare_model(model, config)  # a pretrained backbone's top layers, when asked
    fit_batchnorm_to_run(model, config.epochs * steps_per_epoch)
    model.compile(
        optimizer=make_optimizer(config, steps_per_epoch),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=config.steps_per_execution or auto_steps_per_execution(steps_per_epoch),
    )
    return model


# -- the run -----------------------------------------------------------------
def resume_checkpoint(store, run_id: str):
    """The checkpoint a resumed run continues from: last.keras if it loads, else best.keras, else None.

    Saves are atomic, so last.keras is the newest complete epoch unless someone damaged it;
    best.keras is then the newest file that loads (its weights may be a few epochs older, the
    epoch count carries on from the store). None: the run starts again from scratch.
    """
    for which in ("last", "best"):
        path = store.model_path(run_id, which)
        if path.exists() and loads(path, store.root):
            return path
    return None


def train_run(store, run_id: str) -> dict:
    """Train `run_id` to the end (or until stopped), record results, return them."""
    import keras

    run = store.get(run_id)
    config = run.config
    store.set_device(run_id, describe_device())
    store.update_progress(run_id, Progress("loading data"))
    data = datasets.prepare(config.dataset, config.data_dir, config.train_limit, config.validation_split, config.seed)
    data = teach.training_data(data, store, config)  # a fine-tune on corrections: they + a replay sample
    keras.utils.set_random_seed(config.seed)
    if config.mixed_precision and has_gpu():
        keras.mixed_precision.set_global_policy("mixed_float16")

    steps = math.ceil(len(data.x_train) / config.batch_size)
    resume_from = resume_checkpoint(store, run_id) if run.epochs_completed else None
    initial_epoch = run.epochs_completed if resume_from is not None else 0
    with distribution(config).scope():
        if initial_epoch:
            model = load_model(resume_from)  # weights and optimizer state, so curves continue
        else:
            model = build_model(config, data.info, steps)
            if run.parent_id:  # fine-tuning: the parent's weights, a fresh optimizer at the new rate
                model.set_weights(load_model(store.model_path(run.parent_id, "model")).get_weights())

    train_ds = make_dataset(
        data.x_train, data.y_train, config.batch_size, config.seed, augmentation(config, data.info.is_grey)
    )
    val_ds = make_dataset(data.x_val, data.y_val, config.batch_size) if len(data.x_val) else None
    streamer = StoreCallback(
        store,
        run_id,
        config.epochs,
        steps,
        config.batch_size,
        len(data.x_train),
        initial_epoch,
        val_slice=(in_memory(data.x_val[:VAL_SLICE]), data.y_val[:VAL_SLICE]),
        num_classes=data.info.num_classes,
        time_limit_s=60 * config.extra["max_run_minutes"] if config.extra.get("max_run_minutes") else None,
    )
    callbacks = [streamer]
    if config.early_stopping_patience and val_ds is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=config.early_stopping_patience, restore_best_weights=True
            )
        )

    store.update_progress(run_id, Progress("training", epoch=initial_epoch + 1, epochs=config.epochs))
    start = time.perf_counter()
    model.fit(
        train_ds,
        epochs=config.epochs,
        initial_epoch=initial_epoch,
        validation_data=val_ds,
        callbacks=callbacks,
        shuffle=False,  # tf.data already reshuffles every epoch
        verbose=0,
    )
    train_seconds = time.perf_counter() - start

    store.update_progress(run_id, Progress("evaluating"))
    test_loss, test_accuracy = model.evaluate(
        make_dataset(data.x_test, data.y_test, max(config.batch_size, 256)), verbose=0
    )
    save_model(model, store.model_path(run_id, "model"), "model")
    epochs_done = len(store.epochs(run_id))  # whole epochs only: one a stop cut short is not counted
    trained_images = (epochs_done - initial_epoch) * len(data.x_train)
    if streamer.partial_epoch:
        trained_images += min(streamer.partial_epoch[1] * config.batch_size, len(data.x_train))
    results = {
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
        "epochs_completed": epochs_done,
        "train_seconds": train_seconds,
        "images_per_second": trained_images / train_seconds if train_seconds else None,
        "parameters": int(model.count_params()),
        "train_size": len(data.x_train),
        "val_size": len(data.x_val),
        "test_size": len(data.x_test),
    }
    if streamer.partial_epoch:  # its batches are in the kept model: say how far the cut-off epoch got
        epoch, batches = streamer.partial_epoch
        results["partial_epoch"] = {"epoch": epoch, "batches": batches, "steps": steps}
    status = "stopped" if streamer.stopped else "completed"  # a stop after the last batch cut nothing
    note = None
    if streamer.time_limited:
        note = f"Stopped at this server's time limit of {config.extra['max_run_minutes']:g} minutes."
    store.finish(run_id, status, error=note, wait_s=FINAL_WAIT_S, **results)
    return {"status": status, **results}
