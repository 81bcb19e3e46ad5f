"""A local folder as a channel: documents dropped into it are taken in."""
