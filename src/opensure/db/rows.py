"""The annotation for a result row of any width.

SQLAlchemy 2.1 types ``Row`` by its columns (``Row[int, str]``), so ``Row[Any]`` means a row of
exactly one column. The repositories hand rows of many widths up to schemas that read them by
name; :data:`AnyRow` says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

from sqlalchemy import Row

if TYPE_CHECKING:
    AnyRow: TypeAlias = Row[*tuple[Any, ...]]
else:
    # At run time only the class is needed: the annotations that name it are never evaluated.
    AnyRow = Row
