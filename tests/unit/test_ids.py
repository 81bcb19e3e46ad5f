"""Event ids: name-based UUIDs of where an event came from."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from gateway.events.ids import EDIGW_NAMESPACE, event_id

part = st.text(alphabet=st.sampled_from("AB01|\\é-/ "), max_size=6)


@given(part, part, part, st.integers(0, 10_000))
def test_an_event_id_is_the_uuid5_of_the_escaped_parts(partner, interchange, message, index):
    def escaped(value: object) -> str:
        return str(value).replace("\\", "\\\\").replace("|", "\\|")

    name = "|".join(escaped(p) for p in (partner, interchange, message, index))
    assert event_id(partner, interchange, message, index) == str(uuid.uuid5(EDIGW_NAMESPACE, name))


def test_parts_that_hold_the_separator_never_give_the_id_of_other_parts():
    assert event_id("a|b", "c", "d", 0) != event_id("a", "b|c", "d", 0)
    assert event_id("a\\", "|c", "d", 0) != event_id("a\\|", "c", "d", 0)
    assert event_id("ACME", "000000101", "0001", 0) == str(uuid.uuid5(EDIGW_NAMESPACE, "ACME|000000101|0001|0"))
