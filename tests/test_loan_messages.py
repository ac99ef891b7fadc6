"""Loan notifications are filled from templates split once at load, as `string.Template.safe_substitute` fills them."""

from __future__ import annotations

from string import Template

from hypothesis import given, settings
from hypothesis import strategies as st

from policy_engine.products.loans import TEMPLATE_NAMES, Message

VALUES = {name: f"<{name} 100% $x>" for name in TEMPLATE_NAMES}
PIECES = st.one_of(
    st.sampled_from([f"${name}" for name in TEMPLATE_NAMES] + [f"${{{name}}}" for name in TEMPLATE_NAMES]),
    st.sampled_from(["$$", "$", "${", "$1", "${unknown}", "$unknown", "}", "%", "{", " "]),
    st.text(alphabet="abc $.%{}", max_size=6),
)


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(PIECES, max_size=8))
def test_a_message_fills_as_safe_substitute(parts: list[str]) -> None:
    """Any text, with known and unknown placeholders, `$$`, lone dollars and braces: the same string."""
    template = Template("".join(parts))
    assert Message.of(template).fill(VALUES | {"unknown": "?"}) == template.safe_substitute(VALUES | {"unknown": "?"})


def test_a_message_knows_the_names_it_shows() -> None:
    message = Message.of(Template("moved $quantity ${asset}; $$5 and $ltv_after"))
    assert message.names == {"quantity", "asset", "ltv_after"}
    assert message.fill(VALUES) == f"moved {VALUES['quantity']} {VALUES['asset']}; $5 and {VALUES['ltv_after']}"
