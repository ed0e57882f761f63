"""Named starting points the page offers in one click, each with the one change that fixes it.

A preset is a partial config (any keys of the settings table). ``fix`` is the partial config of the
follow-up the page offers ("now switch to ReLU + He init"), or empty when there is none.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Preset:
    name: str
    label: str
    description: str
    config: dict
    fix_label: str = ""
    fix: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"name": self.name, "label": self.label, "description": self.description, "config": self.config,
                "fix_label": self.fix_label, "fix": self.fix}


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("deep", "Deep sigmoid network",
           "Eight hidden layers of sigmoid, initialised uniformly as TF Playground does. Each layer multiplies the "
           "gradient by f′(z) ≤ 0.25 on its way back, so the first layers' gradients fade by orders of magnitude "
           "(watch the Gradient flow strip) and training stalls.",
           {"dataset": "circle", "hidden": [4] * 8, "activation": "sigmoid", "init": "uniform", "lr": 0.1,
            "optimizer": "sgd", "features": ["x1", "x2"]},
           "Switch to ReLU + He init", {"activation": "relu", "init": "he"}),
    Preset("spiral", "Challenge: the spiral",
           "Two interleaved spiral arms from x₁, x₂ alone, with the small default network. It gets stuck near "
           "70%: can you find settings that solve it?",
           {"dataset": "spiral", "hidden": [4, 2], "activation": "tanh", "init": "xavier", "lr": 0.03,
            "optimizer": "sgd", "features": ["x1", "x2"]},
           "Show a network that solves it",
           {"hidden": [8, 8], "features": ["x1", "x2", "sin_x1", "sin_x2"], "optimizer": "adam", "lr": 0.01}),
)}
