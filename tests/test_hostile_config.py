"""Property-based: any settings are either accepted (and build a trainable model) or refused by name."""

import io
from contextlib import redirect_stderr, redirect_stdout

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lib import models
from lib.cli.main import main as cli_main
from lib.config import ConfigError, TrainConfig

anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=2),
)
FIELDS = [
    "dataset", "architecture", "epochs", "batch_size", "learning_rate", "optimizer", "lr_schedule",
    "weight_decay", "dropout", "batchnorm", "width", "augment_shift", "augment_rotation", "augment_zoom",
    "augment_flip", "validation_split", "early_stopping_patience", "seed", "mixed_precision", "train_limit",
    "steps_per_execution",
]  # fmt: skip
plausible = {
    "dataset": st.sampled_from(["mnist", "fashion_mnist", "cifar10", "nope"]),
    "architecture": st.sampled_from(models.names() + ["nope"]),
    "epochs": st.integers(-2, 600),
    "batch_size": st.integers(-2, 5000),
    "learning_rate": st.floats(-1, 2),
    "dropout": st.floats(-0.5, 1.5),
    "width": st.floats(0, 5),
    "validation_split": st.floats(-0.1, 1.0),
}


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS), anything, max_size=6))
def test_any_values_are_accepted_or_refused_naming_the_field(values):
    try:
        config = TrainConfig.from_dict(values).validate()
    except ConfigError as err:
        assert err.field in values or err.field == "config"
        assert err.message
        return
    assert TrainConfig.from_json(config.to_json()) == config


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.fixed_dictionaries({}, optional=plausible))
def test_accepted_settings_build_and_compile_a_model(values):
    from lib.data import datasets
    from lib.train import fit

    try:
        config = TrainConfig(**values).validate()
    except ConfigError as err:
        assert err.field in values
        return
    if "needs its weights file" in models.REGISTRY[config.architecture].description:
        return  # ImageNet backbones refuse to build without their weights: tests/test_pretrained.py covers them
    model = fit.build_model(config, datasets.info(config.dataset), steps_per_epoch=10)
    assert model.count_params() > 0 and model.optimizer is not None


argv_parts = st.lists(
    st.sampled_from(
        ["--epochs", "--batch-size", "--lr", "--dropout", "--model", "--dataset", "--augment", "--width",
         "--optimizer", "--seed", "0", "1", "-1", "1e9", "abc", "nan", "mnist", "lenet5", "shift=0.1", "flip",
         "--batchnorm", "--no-batchnorm", "--train-limit", "'; DROP TABLE runs; --", "../..", ""]
    ),
    max_size=8,
)  # fmt: skip


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory, tiny_data_dir):
    return str(tmp_path_factory.mktemp("cli") / "runs"), tiny_data_dir


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv_parts)
def test_the_command_line_never_shows_a_traceback(cli_env, parts):
    runs_dir, data_dir = cli_env
    argv = ["--runs-dir", runs_dir, "train", "--data-dir", data_dir, "--detach", *parts]
    err, out = io.StringIO(), io.StringIO()
    with redirect_stderr(err), redirect_stdout(out):
        code = cli_main(argv)  # anything but CliError-style refusals would raise here
    if code != 0:
        assert code == 2 and err.getvalue().startswith("error:") and len(err.getvalue().strip().splitlines()) == 1
