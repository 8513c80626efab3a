"""The Alternating Population Method on synthetic conversations, and HH-RLHF transcript parsing."""

import pytest

from coala_lib.data.apm import apm_role_matrix, apm_triplets, normalize_turns, parse_hh_transcript, render_prompt
from coala_lib.data.validation import RowError


def conv(*roles_contents, system=None):
    return normalize_turns([{"role": r, "content": c} for r, c in roles_contents], system=system)


def alternating(n_turns):
    """u0, a1, u2, a3, ... with distinct contents."""
    return conv(*[("user" if i % 2 == 0 else "assistant", f"turn {i}") for i in range(n_turns)])


@pytest.mark.parametrize("n_turns, expected", [(0, 0), (1, 0), (2, 0), (3, 0), (4, 1), (5, 1), (6, 2), (7, 2), (8, 3)])
def test_triplet_count_is_replies_minus_one(n_turns, expected):
    assert len(apm_triplets(alternating(n_turns), source="t", row=0)) == expected


def test_worked_example_indices_and_prompts():
    triplets = apm_triplets(alternating(7), source="t", row=3)
    assert [(t.chosen, t.rejected) for t in triplets] == [("turn 1", "turn 3"), ("turn 3", "turn 5")]
    assert triplets[0].prompt == "User: turn 0\n\nAssistant:"
    assert triplets[1].prompt == "User: turn 0\n\nAssistant: turn 1\n\nUser: turn 2\n\nAssistant:"
    assert triplets[1].meta == {"chosen_turn": 3, "rejected_turn": 5, "n_turns": 7}
    assert all(t.row == 3 and t.source == "t" for t in triplets)


def test_wrap_reproduces_reference_wraparound():
    triplets = apm_triplets(alternating(6), source="t", row=0, wrap=True)
    assert [(t.chosen, t.rejected) for t in triplets] == [
        ("turn 1", "turn 3"),
        ("turn 3", "turn 5"),
        ("turn 5", "turn 1"),
    ]


def test_consecutive_same_role_turns_are_merged_and_empty_turns_dropped():
    c = conv(
        ("user", "hi"),
        ("user", "  "),
        ("student", "second"),
        ("assistant", "a"),
        ("tutor", "b"),
        ("user", "q"),
        ("assistant", ""),
        ("assistant", "c"),
    )
    assert [(t.role, t.content) for t in c.turns] == [
        ("user", "hi\n\nsecond"),
        ("assistant", "a\n\nb"),
        ("user", "q"),
        ("assistant", "c"),
    ]
    (triplet,) = apm_triplets(c, source="t", row=0)
    assert (triplet.chosen, triplet.rejected) == ("a\n\nb", "c")


def test_system_prompt_kept_in_every_prompt_and_leading_assistant_is_not_a_reply():
    c = conv(
        ("system", "Be kind."),
        ("assistant", "Hello!"),
        ("user", "u1"),
        ("assistant", "a1"),
        ("user", "u2"),
        ("assistant", "a2"),
    )
    triplets = apm_triplets(c, source="t", row=0)
    assert len(triplets) == 1 and triplets[0].chosen == "a1" and triplets[0].rejected == "a2"
    assert triplets[0].prompt.startswith("System: Be kind.\n\nAssistant: Hello!\n\nUser: u1")


def test_chat_template_is_used_when_tokenizer_has_one():
    class Tok:
        chat_template = "x"

        def apply_chat_template(self, messages, tokenize, add_generation_prompt):
            assert tokenize is False and add_generation_prompt is True
            return "|".join(f"{m['role']}={m['content']}" for m in messages) + "|assistant="

    c = conv(("user", "u"), ("assistant", "a"))
    assert render_prompt("sys", c.turns[:1], Tok()) == "system=sys|user=u|assistant="


@pytest.mark.parametrize(
    "turns, field",
    [
        ([{"role": "alien", "content": "x"}], "role"),
        ([{"role": "user"}], "content"),
        (["not a dict"], "role"),
        ("not a list", "role"),
    ],
)
def test_malformed_turns_raise_row_error_naming_the_field(turns, field):
    with pytest.raises(RowError) as err:
        normalize_turns(turns)
    assert err.value.field == field


def test_role_matrix_marks_prompt_chosen_rejected():
    table = apm_role_matrix(alternating(6))
    assert table.shape == (2, 6)
    assert list(table.iloc[1]) == ["prompt", "prompt", "prompt", "chosen", "", "rejected"]


def test_parse_hh_transcript():
    text = "\n\nHuman: Hi there\n\nAssistant: Hello.\n\nHuman: Bye\n\nAssistant:"
    assert parse_hh_transcript(text) == [
        {"role": "human", "content": "Hi there"},
        {"role": "assistant", "content": "Hello."},
        {"role": "human", "content": "Bye"},
        {"role": "assistant", "content": ""},
    ]
    with pytest.raises(RowError):
        parse_hh_transcript("no markers here", "rejected")
