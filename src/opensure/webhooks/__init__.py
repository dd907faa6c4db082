"""Webhook endpoints of an account (SPEC §9): created, listed, rotated and removed."""
