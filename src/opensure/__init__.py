"""OpenSure: a self-hosted customer-feedback platform speaking the CustomerSure API v1."""

__version__ = "0.1.0"
