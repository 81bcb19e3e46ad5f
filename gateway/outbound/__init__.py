"""The outbound flow: events from Kafka to the documents partners expect.

    egress (consume an event, plan its routes) -> render (templates -> syntax writers)
           -> outbox (the state store's queue: send through the partner's channel, retries,
              MDNs, the partner's acknowledgements reconciled)

Nothing here imports the inbound flow.
"""
