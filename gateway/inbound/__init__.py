"""The inbound flow: what partners send, from the channel to the events on Kafka.

    adapter -> document.Document -> intake (archive + receipt, then the sender is answered)
            -> workers (optional worker processes) -> pipeline (syntax, partner, duplicates,
               acknowledgements, mapping, Avro) -> sink

Adapters depend only on :mod:`gateway.inbound.document` and the intake's ``take``; nothing here
imports the outbound flow.
"""
