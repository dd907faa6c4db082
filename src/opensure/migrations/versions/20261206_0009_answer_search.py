"""text search in answers, and indexes for the console's inbox filters

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 04:40:00.000000

The console's inbox searches the words of answers (``opensure.feedback_responses``):

- PostgreSQL: a GIN index on ``to_tsvector('simple', value)``, with the value's ASCII
  punctuation read as spaces first (PostgreSQL's parser would drop ``<tag>``-like text whole
  and keep an e-mail address as one word, where FTS5 splits on every punctuation mark).
  Full-text search rather than pg_trgm: it is built in (no extension to install), it matches
  words and word beginnings the way SQLite's FTS5 does, and its index is a fraction of a
  trigram index's size on long comments. The ``simple`` configuration lower-cases but stems
  nothing and drops no stop words, so it works alike for every language customers write in.
- SQLite: an FTS5 table over ``answers`` (external content: it stores only the index, the
  text stays in ``answers``), kept by triggers on insert, update and delete (deletes through
  a response's ``ON DELETE CASCADE`` fire them too). A later migration that rebuilds
  ``answers`` in batch mode drops these triggers and must create them again.

Both live outside the models' metadata (``opensure.models.feedback.kept_outside_metadata``).
Existing answers are indexed here: PostgreSQL builds the index from the rows, SQLite's
``rebuild`` reads them all.

The inbox's staff, team and site filters walk the newest responses of one member first:
indexes on (staff_id | team_id | site_id, submitted_at, id).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_UP = [
    "CREATE VIRTUAL TABLE answers_search USING fts5("
    "value, content='answers', content_rowid='id', tokenize='unicode61 remove_diacritics 0')",
    "CREATE TRIGGER answers_search_insert AFTER INSERT ON answers BEGIN "
    "INSERT INTO answers_search (rowid, value) VALUES (new.id, new.value); END",
    "CREATE TRIGGER answers_search_delete AFTER DELETE ON answers BEGIN "
    "INSERT INTO answers_search (answers_search, rowid, value) "
    "VALUES ('delete', old.id, old.value); END",
    "CREATE TRIGGER answers_search_update AFTER UPDATE OF value ON answers BEGIN "
    "INSERT INTO answers_search (answers_search, rowid, value) "
    "VALUES ('delete', old.id, old.value); "
    "INSERT INTO answers_search (rowid, value) VALUES (new.id, new.value); END",
    "INSERT INTO answers_search (answers_search) VALUES ('rebuild')",
]
SQLITE_DOWN = [
    "DROP TRIGGER answers_search_update",
    "DROP TRIGGER answers_search_delete",
    "DROP TRIGGER answers_search_insert",
    "DROP TABLE answers_search",
]
# ASCII punctuation read as spaces (see opensure.feedback_responses.repository.SEARCH_DOCUMENT,
# which must spell this expression the same way for the index to be used).
PG_UP = [
    "CREATE INDEX ix_answers_search ON answers USING gin (to_tsvector('simple', "
    "translate(value, '!\"#$%&''()*+,-./:;<=>?@[\\]^_`{|}~', '" + " " * 32 + "')))",
]
PG_DOWN = ["DROP INDEX ix_answers_search"]

MEMBER_INDEXES = {
    f"ix_feedback_responses_{column}_submitted": column
    for column in ("staff_id", "team_id", "site_id")
}


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in SQLITE_UP if sqlite else PG_UP:
        op.execute(statement)
    for name, column in MEMBER_INDEXES.items():
        op.create_index(name, "feedback_responses", [column, "submitted_at", "id"])


def downgrade() -> None:
    for name in MEMBER_INDEXES:
        op.drop_index(name, table_name="feedback_responses")
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in SQLITE_DOWN if sqlite else PG_DOWN:
        op.execute(statement)
