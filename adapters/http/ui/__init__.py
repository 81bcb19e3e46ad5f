"""Tracking pages of the gateway: documents, outbound, dead letters and partners in a browser (see docs/ui.md)."""
