"""tools/open_set_tune.py: what --set accepts, and the one-line errors for what it does not."""

from __future__ import annotations

import argparse

import pytest

from tools.open_set_tune import parse_set


def test_a_set_names_overrides_of_the_tunable_keys_with_their_types():
    assert parse_set("base=") == ("base", {})
    assert parse_set("e8=epochs=8,share=0.1") == ("e8", {"epochs": 8, "share": 0.1})
    assert parse_set("slow=learning_rate=3e-4") == ("slow", {"learning_rate": 0.0003})


@pytest.mark.parametrize(("text", "says"), [("=epochs=8", "expected NAME="), ("x=route=entropic", "not one of"),
                                            ("x=epochs=eight", "is not an integer")])
def test_a_bad_set_is_refused_with_what_to_write(text, says):
    with pytest.raises(argparse.ArgumentTypeError, match=says):
        parse_set(text)
