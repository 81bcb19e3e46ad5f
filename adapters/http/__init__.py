"""The HTTP channel: partners post documents; anyone with a key reads their status."""
