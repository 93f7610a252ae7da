"""Class names in the learner's language (``--class-names en|ko``), and a font
that draws them in pictures.

Text output needs nothing more than the names. Pictures with Korean names
need a font with Hangul: matplotlib's own DejaVu Sans has none and would
draw boxes, warning "Glyph ... missing from font" once per character. The
font used is NanumGothic (Debian's ``fonts-nanum``, installed by
``scripts/setup.sh``). matplotlib keeps a cache of the fonts it found when it
first ran, so a font installed later is looked for on disk as well and added
to its font manager.

When no NanumGothic is found, a picture asked for in Korean is drawn with
the English names instead (readable, where boxes are not), and
:attr:`PictureNames.note` says so; the command prints it on stderr.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from ..language import facts

LANGUAGES = tuple(facts.CLASS_NAMES_BY_LANGUAGE)
"""The values of ``--class-names``: ``en`` (Fashion-MNIST's names), ``ko`` (the textbook's)."""

HANGUL_FAMILY = "NanumGothic"
"""The font family drawn for Korean class names."""
HANGUL_FONT_FILE = "NanumGothic.ttf"
"""Its file, looked for among the system's fonts when matplotlib's cache predates it."""
INSTALL_HANGUL_FONT = ("install NanumGothic: 'sudo apt-get install fonts-nanum' (Debian, Ubuntu), "
                       "or from https://hangeul.naver.com/font; then run the command again")


def class_names(language: str = "en") -> tuple:
    """The ten class names in label order 0..9 in ``language`` (``en`` or ``ko``)."""
    return facts.CLASS_NAMES_BY_LANGUAGE[language]


def hangul_font() -> str | None:
    """The path of the NanumGothic font file matplotlib will use, or None when it is not installed.

    A font missing from matplotlib's cache but present among the system's
    fonts (``font_manager.findSystemFonts``) is added to matplotlib's font
    manager for this process.
    """
    from matplotlib import font_manager

    for entry in font_manager.fontManager.ttflist:  # the regular weight: its family also names NanumGothicBold.ttf
        if entry.name == HANGUL_FAMILY and Path(entry.fname).name == HANGUL_FONT_FILE:
            return entry.fname
    for path in font_manager.findSystemFonts():
        if Path(path).name == HANGUL_FONT_FILE:
            font_manager.fontManager.addfont(path)
            if any(entry.name == HANGUL_FAMILY for entry in font_manager.fontManager.ttflist):
                return path
    return None


@dataclass(frozen=True)
class PictureNames:
    """The class names a picture draws and the fonts that draw them.

    Attributes:
        names: Ten names in label order.
        font_family: matplotlib ``font.family`` to draw with (Hangul font
            first, DejaVu Sans for what it lacks), or None for matplotlib's default.
        note: Why the names differ from what was asked ("" when they don't).
        hint: How to get what was asked.
    """

    names: tuple
    font_family: tuple | None = None
    note: str = ""
    hint: str = ""

    def fonts(self):
        """A context in which new matplotlib text uses :attr:`font_family`
        (``matplotlib.rc_context``; nothing changes when it is None)."""
        if self.font_family is None:
            return contextlib.nullcontext()
        import matplotlib

        return matplotlib.rc_context({"font.family": list(self.font_family)})

    @property
    def notes(self) -> list:
        """``[note with hint]`` for a command's notes, or ``[]``."""
        return [f"{self.note}\n  hint: {self.hint}"] if self.note else []


def for_pictures(language: str = "en") -> PictureNames:
    """The class names and font for pictures in ``language``; English names and a note
    when ``ko`` is asked for and no Hangul font is installed."""
    if language != "ko":
        return PictureNames(class_names(language))
    if hangul_font() is None:
        return PictureNames(class_names("en"), None,
                            f"no font with Hangul ({HANGUL_FAMILY}) was found, so the picture names "
                            f"the classes in English", INSTALL_HANGUL_FONT)
    return PictureNames(class_names("ko"), (HANGUL_FAMILY, "DejaVu Sans"))
