"""Property test: ``edigw parse --format json`` builds each message's text directly (one C encoder
made once, segment values without a call per element); it must be the text the general JSON
layout (``_dumps`` of ``Message.to_json()``) gives, for any segments."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.cli import _dumps, _message_text
from gateway.model import Group, Message, Repeats, Segment

text = st.text(max_size=6)  # any characters: quotes, backslashes, control characters, astral ones
element = st.one_of(text, st.lists(text, min_size=1, max_size=3),
                    st.lists(st.one_of(text, st.lists(text, min_size=1, max_size=2)), min_size=1,
                             max_size=3).map(Repeats))
segments = st.lists(st.builds(Segment, st.one_of(st.just("BGM"), text), st.lists(element, max_size=4)),
                    max_size=6)


@settings(max_examples=300)
@given(segs=segments, indent=st.integers(0, 3), grouped=st.booleans())
def test_message_text_is_the_general_json_layout(segs, indent, grouped):
    group = Group(id="ORDERS", control_ref="7", sender="S", recipient="R", version="D96A",
                  header=Segment("UNG", [])) if grouped else None
    msg = Message(type="ORDERS", ref="1", version="D96A", segments=segs, group=group)
    assert _message_text(msg, indent) == _dumps(msg.to_json(), indent)
