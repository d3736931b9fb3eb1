"""vras_keras.demo.widgets: the parts that do not need a running page (the pages test the widgets)."""

from vras_keras.demo import widgets


def test_short_error_strips_colours_and_keeps_the_first_line():
    error = ValueError("\x1b[1mNegative dimension\x1b[0m size caused by pooling\n\nArguments received: ...")
    assert widgets.short_error(error) == "Negative dimension size caused by pooling"
    assert widgets.short_error(ValueError("x" * 500), limit=10) == "x" * 9 + "…"
    assert widgets.short_error(ValueError("")) == "ValueError"
