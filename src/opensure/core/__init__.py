"""Rules with no framework and no database: each written once, used by every layer."""
