"""The colours every picture of backlit uses: the page (sent in the schema) and the PNG plots.

Orange and green are reserved for gradients (what the loss wants a weight to do); classes never use
them. The colour-blind-safe palette swaps green for a near-white, so the pair differs in lightness
as well as hue, and every gradient also has a second cue that is not colour (▲/▼ marks, dashes).
"""

from __future__ import annotations

CLASS_COLORS = ("#d84b9f", "#4f86ff", "#e4e15a", "#9b6bff", "#35c7e6")
"""Class k is drawn in CLASS_COLORS[k]: magenta, blue, yellow, purple, cyan."""

GRADIENT = {
    "default": {"increase": "#ff9d2e", "decrease": "#3ddc84", "inc_name": "orange", "dec_name": "green",
                "pos": "#6d93e8", "neg": "#c9619f", "pos_name": "blue", "neg_name": "magenta"},
    "cb": {"increase": "#e69f00", "decrease": "#ececec", "inc_name": "orange", "dec_name": "white",
           "pos": "#b9c0cf", "neg": "#5d6678", "pos_name": "light grey", "neg_name": "dark grey"},
}
"""Links: ``increase`` where ∂L/∂w < 0, ``decrease`` where ∂L/∂w > 0; ``pos``/``neg`` draw a weight's
sign when no gradient is shown."""

PLANE_BACKGROUND = "#151b29"


def to_dict() -> dict:
    return {"classes": list(CLASS_COLORS), "gradient": GRADIENT, "plane_background": PLANE_BACKGROUND}
