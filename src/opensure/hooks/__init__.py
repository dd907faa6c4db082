"""Delivery notifications from mail providers, as public webhooks into OpenSure
(``POST /hooks/bounces/{provider}``; docs/bounces.md)."""
