"""Issue 14: Predict forgot the drawing and the uploads when the user left the page and came back.

The whole app in AppTest: a page change drops the widgets' state as it does in a browser.
"""

from __future__ import annotations

from tests.test_app_predict import canvas_value, digit_png, page, predictions_on

KEPT_NOTE = "you uploaded earlier in this session"


def leave_and_come_back(at):
    at.switch_page("pages/runs.py").run()
    assert not at.exception, at.exception
    at.switch_page("pages/predict.py").run()
    assert not at.exception, at.exception
    return at


def test_the_drawing_and_its_prediction_are_back_after_a_page_change(monkeypatch, trained_run):
    at = page(monkeypatch, trained_run[0])
    drawn = canvas_value(digit_png())
    at.session_state["predict_canvas"] = drawn
    at.run()
    shown = predictions_on(at)
    assert shown

    leave_and_come_back(at)
    assert predictions_on(at) == shown  # at once, from the kept picture
    # the canvas is mounted with the kept strokes, so the user sees (and can go on with) the drawing
    assert at.session_state["cs_canvas_initial"]["objects"] == drawn["drawing"]["raw"]["objects"]


def test_clear_forgets_the_kept_drawing(monkeypatch, trained_run):
    at = page(monkeypatch, trained_run[0])
    at.session_state["predict_canvas"] = canvas_value(digit_png())
    at.run()
    at.button[0].click().run()  # Clear
    leave_and_come_back(at)
    assert not predictions_on(at)
    assert at.session_state["cs_canvas_initial"]["objects"] == []
    assert any("Draw a digit" in i.value for i in at.info)


def upload_two(at):
    at.session_state["predict_source"] = "Upload"
    at.run()
    at.file_uploader(key="predict_uploads").set_value(
        [("seven.png", digit_png(), "image/png"), ("paper.png", digit_png(ink=0, paper=255), "image/png")]
    ).run()
    assert not at.exception, at.exception
    assert len(predictions_on(at)) == 2


def names_on(at) -> list[str]:
    return sorted(m.value for m in at.markdown if m.value.startswith("**"))


def test_uploads_and_their_predictions_are_back_after_a_page_change(monkeypatch, trained_run):
    at = page(monkeypatch, trained_run[0])
    upload_two(at)
    shown = sorted(predictions_on(at))

    leave_and_come_back(at)
    assert names_on(at) == ["**paper.png**", "**seven.png**"]
    assert sorted(predictions_on(at)) == shown  # only the open tab runs: the Upload tab left open
    assert any(KEPT_NOTE in c.value for c in at.caption)

    at.run()  # any later rerun (a button in a result, say) keeps showing them
    assert len(predictions_on(at)) == 2

    forget = next(b for b in at.button if b.label == "Forget them")
    forget.click().run()
    assert not predictions_on(at)
    assert any("Drop one or more images" in i.value for i in at.info)
    leave_and_come_back(at)
    assert not predictions_on(at)


def test_emptying_the_uploader_forgets_the_images(monkeypatch, trained_run):
    at = page(monkeypatch, trained_run[0])
    upload_two(at)
    at.file_uploader(key="predict_uploads").set_value([]).run()  # the user took them out with the box's x
    assert not predictions_on(at)
    leave_and_come_back(at)
    assert not predictions_on(at)
