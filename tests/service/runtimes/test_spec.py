"""A StepSpec is checked when it is declared: its state pairs step inputs with outputs, its reducer reads an output."""

from __future__ import annotations

import pytest

from service.runtimes.spec import Axes, StepSpec

INPUTS = {"tokens": Axes(0), "h": Axes(1), "memory": Axes(0, 1)}
OUTPUTS = {"logits": Axes(0), "h_out": Axes(1)}


def test_state_axes_are_the_state_inputs_batch_axes():
    spec = StepSpec("step", INPUTS, OUTPUTS, {"h": "h_out"}, scored="logits", reduce="sample")
    assert spec.state_axes == {"h": 1}


@pytest.mark.parametrize(
    ("state", "scored", "reduce", "message"),
    [
        ({"c": "h_out"}, None, None, "must pair step inputs with step outputs"),
        ({"h": "c_out"}, None, None, "must pair step inputs with step outputs"),
        ({"h": "h_out"}, "logits", None, "`scored` names a step output exactly when `reduce` is set"),
        ({"h": "h_out"}, "probs", "top_k", "`scored` names a step output exactly when `reduce` is set"),
        ({"h": "h_out"}, None, "top_k", "`scored` names a step output exactly when `reduce` is set"),
    ],
)
def test_inconsistent_specs_are_refused(state, scored, reduce, message):
    with pytest.raises(ValueError, match=message):
        StepSpec("step", INPUTS, OUTPUTS, state, scored=scored, reduce=reduce)
