"""The audit log: who changed what in the console or the CLI, when, before and after."""
