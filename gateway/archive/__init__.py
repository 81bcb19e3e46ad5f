"""The raw-document archive: one interface (:class:`Archive`), a class per store.

    LocalArchive(folder)                 gateway.archive.local  (fsync'd files)
    S3Archive(bucket, prefix, ...)       gateway.archive.s3     (any S3-compatible store; needs obstore)
    MemoryArchive()                      gateway.archive.memory (tests)

:func:`gateway.bootstrap.build_archive` builds the configured one.
"""

from gateway.archive.base import Archive, ArchiveUnavailable, TooLarge, key_of
from gateway.archive.local import LocalArchive, fsync_dir
from gateway.archive.memory import MemoryArchive

__all__ = ["Archive", "ArchiveUnavailable", "LocalArchive", "MemoryArchive", "TooLarge", "fsync_dir", "key_of"]
