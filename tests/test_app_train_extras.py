"""Train page: the one-click recipe, and the administrator's limits shown next to the widget."""

from __future__ import annotations

from lib import presets
from tests.test_app_access import locked, log_in  # noqa: F401 - locked is a fixture
from tests.test_app_pages import env, open_page  # noqa: F401 - env is a fixture


def test_the_recommended_recipe_fills_every_setting_in_one_click(env):  # noqa: F811
    at = open_page("pages/train.py")
    recipe = presets.get("mnist")
    assert any(c.value == recipe.summary for c in at.caption)
    next(b for b in at.button if b.label == "Use the recommended recipe").click().run()
    assert not at.exception
    assert at.number_input(key="w_epochs").value == recipe.settings["epochs"]
    assert at.number_input(key="w_batch_size").value == recipe.settings["batch_size"]
    assert at.selectbox(key="w_optimizer").value == "adamw"
    assert at.session_state["cs_config"]["architecture"] == "vgg_small"


def test_too_many_epochs_for_this_server_is_refused_beside_the_widget(locked):  # noqa: F811
    at = log_in("bob", "open sesame")
    at.switch_page("pages/train.py").run()
    at.number_input(key="w_epochs").set_value(50).run()
    assert any("at most 20 epochs" in e.value for e in at.error)
    assert next(b for b in at.button if b.key == "start").disabled
