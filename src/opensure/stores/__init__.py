"""Tables shared by several layers (idempotency keys, API tokens): a repository each."""
