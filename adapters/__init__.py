"""Transports: one folder per technology (http, sftp, as2), config beside code."""
