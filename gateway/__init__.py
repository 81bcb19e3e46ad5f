"""EDI event gateway: EDIFACT, X12 and XML documents in, domain events out."""

__version__ = "0.1.0"
