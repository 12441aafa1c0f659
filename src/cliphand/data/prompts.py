"""Text prompts for the CLIP module (paper §4.1, Tables 1 and 2).

The final prompt is "an image of a hand on a {color} {place} in a gesture that means "{class}"",
with {class} one of the 19 gestures written as in Table 2 ("peace inv.", "two up inv.").
Training can vary the opening words and the place word over Table 1's vocabulary.
"""

from __future__ import annotations

import numpy as np

from cliphand.hand.gestures import GESTURES

PREFIXES: tuple[str, ...] = (
    "a cropped image of",
    "an image of",
    "a cropped photo of",
    "a picture of",
    "one",
    "a photo of",
    "a photo of right",
)
PLACES: tuple[str, ...] = ("room", "background")
COLORS: dict[str, tuple[int, int, int]] = {
    "mustard": (225, 173, 1),
    "lime": (191, 255, 0),
    "bright": (245, 245, 235),
    "dark": (35, 35, 40),
    "green": (0, 128, 0),
    "purple": (128, 0, 128),
    "white": (255, 255, 255),
    "silver": (192, 192, 192),
    "olive": (128, 128, 0),
    "black": (0, 0, 0),
    "orange": (255, 165, 0),
    "red": (220, 20, 30),
    "blue": (20, 40, 220),
    "yellow": (255, 230, 0),
    "gray": (128, 128, 128),
    "beige": (245, 245, 220),
    "pink": (255, 182, 193),
    "brown": (139, 69, 19),
    "coral": (255, 127, 80),
    "wine": (114, 47, 55),
}
"""Table 1's colour words with the RGB used to paint (and to name) backgrounds."""


def gesture_phrase(gesture: int | str) -> str:
    """Table 2's way of writing a gesture: underscores as spaces, '_inverted' as ' inv.'."""
    name = GESTURES[gesture] if isinstance(gesture, int) else gesture
    if name == "no_gesture":
        return "no gesture"
    return name.replace("_inverted", " inv.").replace("_", " ")


def nearest_color(rgb: np.ndarray) -> str:
    """The Table 1 colour word closest to an RGB triple (0-255)."""
    names = list(COLORS)
    table = np.array([COLORS[n] for n in names], dtype=np.float64)
    return names[int(np.argmin(((table - np.asarray(rgb, np.float64)) ** 2).sum(1)))]


def make_prompt(gesture: int | str, color: str, rng: np.random.Generator | None = None) -> str:
    """The paper's prompt; with `rng`, the opening words and the place word are sampled."""
    prefix, place = ("an image of", "background") if rng is None else (rng.choice(PREFIXES), rng.choice(PLACES))
    return f'{prefix} a hand on a {color} {place} in a gesture that means "{gesture_phrase(gesture)}"'
