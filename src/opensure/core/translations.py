"""The built-in texts in the customer's language: gettext catalogs kept as ``.po`` files in
``opensure/locale/<lang>/LC_MESSAGES/messages.po`` (``messages.pot`` beside them is the English
source, made by ``make translations``).

Each catalog is read once per process and compiled in memory (Babel's ``read_po`` →
``write_mo`` → ``GNUTranslations``), so there is no build step to remember and no ``.mo`` file
to keep in step; :func:`translator` caches the result, so a page or an e-mail costs a
dictionary look-up per text. Texts are marked with ``_()`` (or :func:`N_` where they are only
named, to be translated later); placeholders are ``%(name)s``.
"""

from __future__ import annotations

import gettext
import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from opensure.core.languages import BUILT_IN, DEFAULT, direction

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "messages"


def N_(message: str) -> str:
    """Marks a text for the catalogs where it is defined; translated where it is shown."""
    return message


@dataclass(frozen=True)
class Translator:
    """The built-in texts of one language."""

    lang: str
    catalog: gettext.NullTranslations

    @property
    def dir(self) -> str:
        return direction(self.lang)

    def gettext(self, message: str, /, **values: Any) -> str:
        """``message`` in this language, with ``%(name)s`` placeholders filled from ``values``.

        In a right-to-left language each text value is isolated (Unicode FSI … PDI, invisible),
        so that a Latin name or address keeps its own order inside an Arabic sentence."""
        text = self.catalog.gettext(message)
        if not values:
            return text
        if self.dir == "rtl":
            values = {k: f"\u2068{v}\u2069" if isinstance(v, str) else v for k, v in values.items()}
        return text % values

    __call__ = gettext


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def _compile(lang: str) -> gettext.NullTranslations:
    path = po_path(lang)
    if lang == DEFAULT or not path.exists():
        return gettext.NullTranslations()  # English is the source: the msgids themselves
    with path.open("rb") as po:
        catalog = read_po(po, locale=lang)
    mo = io.BytesIO()
    write_mo(mo, catalog, use_fuzzy=False)
    mo.seek(0)
    return gettext.GNUTranslations(mo)


@lru_cache(maxsize=len(BUILT_IN) + 1)
def translator(lang: str) -> Translator:
    """The cached translator of a built-in language (anything else gets English)."""
    if lang not in BUILT_IN:
        lang = DEFAULT
    return Translator(lang, _compile(lang))
