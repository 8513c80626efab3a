"""The Alternating Population Method (APM): preference triplets from a plain conversation.

COALA builds EduFeedback's preferences without any reward model (paper section 3, our
``COALA.md`` section 3). After :func:`normalize_turns`, a conversation is a list of turns
:math:`t_0, t_1, \\dots` that alternate between the user and the assistant. Let
:math:`r_1 < r_2 < \\dots < r_m` be the positions of the assistant *replies* (assistant turns that
follow a user turn). Triplet :math:`j` is

.. math:: \\text{prompt}_j = \\text{system} + t_0 \\dots t_{r_j - 1}, \\quad
          \\text{chosen}_j = t_{r_j}, \\quad \\text{rejected}_j = t_{r_j + 2} = t_{r_{j+1}},

i.e. the immediate reply is preferred to the assistant's reply two turns later in the message
list, which (turns alternating) is the *next* assistant reply. The last reply has no turn
:math:`r_m + 2`, so a conversation with :math:`m` replies gives :math:`m - 1` triplets.

Worked example, ``[u0, a1, u2, a3, u4, a5, u6]`` (replies at 1, 3, 5, so :math:`m = 3`):

* prompt ``u0`` -> chosen ``a1``, rejected ``a3``
* prompt ``u0 a1 u2`` -> chosen ``a3``, rejected ``a5``
* ``a5`` has no reply two turns later: dropped; ``u6`` has no reply at all: no triplet.

The authors' code instead wraps the last pair around to the first reply (``u0 a1 u2 a3 u4`` ->
``a5`` over ``a1``, giving :math:`m` triplets); ``wrap=True`` reproduces that for comparison.

Normalisation (documented choices): system turns are collected into the system prompt (kept in
every prompt); turns whose content is empty after stripping are dropped; consecutive turns of
the same role are merged into one, joined by a blank line; an assistant turn before the first
user turn is kept as context but is not a reply.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from coala_lib.data.schema import Triplet
from coala_lib.data.validation import RowError

USER, ASSISTANT, SYSTEM = "user", "assistant", "system"
ROLE_ALIASES: dict[str, str] = {
    "user": USER,
    "human": USER,
    "student": USER,
    "prompter": USER,
    "assistant": ASSISTANT,
    "gpt": ASSISTANT,
    "tutor": ASSISTANT,
    "bot": ASSISTANT,
    "model": ASSISTANT,
    "system": SYSTEM,
}
PLAIN_LABELS = {SYSTEM: "System", USER: "User", ASSISTANT: "Assistant"}


@dataclass(frozen=True)
class Turn:
    role: str  # "user" or "assistant"
    content: str


@dataclass(frozen=True)
class Conversation:
    """A normalised conversation: an optional system prompt and strictly alternating turns."""

    system: str | None
    turns: tuple[Turn, ...]

    @property
    def replies(self) -> list[int]:
        """Positions of the assistant replies (assistant turns right after a user turn)."""
        return [i for i, t in enumerate(self.turns) if t.role == ASSISTANT and i > 0 and self.turns[i - 1].role == USER]


def normalize_turns(
    turns: Sequence[Mapping[str, Any]],
    *,
    system: str | None = None,
    role_key: str = "role",
    content_key: str = "content",
    roles: Mapping[str, str] = ROLE_ALIASES,
) -> Conversation:
    """Map raw ``{role, content}`` turns to a :class:`Conversation` (rules in the module docstring).

    ``roles`` maps lower-cased raw role names to ``user``/``assistant``/``system``. Raises
    :class:`RowError` for a turn that is not a mapping, lacks a key or has an unknown role.
    """
    if not isinstance(turns, (list, tuple)):
        raise RowError(role_key, f"conversation must be a list of turns, got {type(turns).__name__}")
    system_parts = [system.strip()] if isinstance(system, str) and system.strip() else []
    merged: list[Turn] = []
    for number, raw in enumerate(turns):
        if not isinstance(raw, Mapping):
            raise RowError(role_key, f"turn {number} must be a mapping, got {type(raw).__name__}")
        for key in (role_key, content_key):
            if not isinstance(raw.get(key), str):
                raise RowError(key, f"turn {number} lacks a string {key!r}")
        role = roles.get(raw[role_key].strip().lower())
        if role is None:
            raise RowError(role_key, f"turn {number} has unknown role {raw[role_key]!r}; known: {sorted(roles)}")
        content = raw[content_key].strip()
        if not content:
            continue
        if role == SYSTEM:
            system_parts.append(content)
        elif merged and merged[-1].role == role:
            merged[-1] = Turn(role, merged[-1].content + "\n\n" + content)
        else:
            merged.append(Turn(role, content))
    return Conversation("\n\n".join(system_parts) or None, tuple(merged))


def render_prompt(system: str | None, history: Sequence[Turn], tokenizer: Any = None) -> str:
    """The prompt text for ``history`` (ending with a user turn), ready for the assistant's answer.

    With a ``tokenizer`` that has a chat template: ``apply_chat_template(..., add_generation_prompt=True)``.
    Otherwise the plain format ``"System: s\\n\\nUser: u\\n\\nAssistant: a\\n\\nUser: u\\n\\nAssistant:"``.
    """
    messages = ([{"role": SYSTEM, "content": system}] if system else []) + [
        {"role": t.role, "content": t.content} for t in history
    ]
    if tokenizer is not None and getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    blocks = [f"{PLAIN_LABELS[m['role']]}: {m['content']}" for m in messages]
    return "\n\n".join(blocks + [f"{PLAIN_LABELS[ASSISTANT]}:"])


def apm_pairs(conversation: Conversation, wrap: bool = False) -> list[tuple[int, int]]:
    """``(chosen, rejected)`` turn positions: reply :math:`r_j` over :math:`r_{j+1}`; with ``wrap``
    the last reply is also paired with the first (the authors' behaviour)."""
    replies = conversation.replies
    pairs = list(itertools.pairwise(replies))
    if wrap and len(replies) >= 2:
        pairs.append((replies[-1], replies[0]))
    return pairs


def apm_triplets(
    conversation: Conversation, *, source: str, row: int | str, tokenizer: Any = None, wrap: bool = False
) -> list[Triplet]:
    """The APM triplets of one conversation; ``meta`` records the chosen and rejected turn positions."""
    return [
        Triplet(
            prompt=render_prompt(conversation.system, conversation.turns[:chosen], tokenizer),
            chosen=conversation.turns[chosen].content,
            rejected=conversation.turns[rejected].content,
            source=source,
            row=row,
            meta={"chosen_turn": chosen, "rejected_turn": rejected, "n_turns": len(conversation.turns)},
        )
        for chosen, rejected in apm_pairs(conversation, wrap)
    ]


def apm_role_matrix(conversation: Conversation, wrap: bool = False) -> pd.DataFrame:
    """What each turn is in each triplet: a (triplets x turns) table of ``"prompt"``, ``"chosen"``,
    ``"rejected"`` or ``""`` (unused), indexed by triplet and labelled ``"t: role"``; for drawing APM."""
    columns = [f"{i}: {t.role}" for i, t in enumerate(conversation.turns)]
    table = []
    for chosen, rejected in apm_pairs(conversation, wrap):
        cells = ["prompt" if i < chosen else "" for i in range(len(columns))]
        cells[chosen], cells[rejected] = "chosen", "rejected"
        table.append(cells)
    return pd.DataFrame(table, columns=columns, index=pd.RangeIndex(len(table), name="triplet"))


_HH_MARKER = re.compile(r"\n\n(Human|Assistant):")


def parse_hh_transcript(text: str, field: str = "chosen") -> list[dict[str, str]]:
    """Split an HH-RLHF transcript ``"\\n\\nHuman: ...\\n\\nAssistant: ..."`` into role/content turns.

    Raises :class:`RowError` naming ``field`` when the text is not a string or does not start
    with a ``Human:``/``Assistant:`` marker.
    """
    if not isinstance(text, str):
        raise RowError(field, f"transcript must be a string, got {type(text).__name__}")
    pieces = _HH_MARKER.split(text)
    if pieces[0].strip() or len(pieces) < 3:
        raise RowError(field, "transcript must start with '\\n\\nHuman:' or '\\n\\nAssistant:'")
    return [
        {"role": "human" if speaker == "Human" else "assistant", "content": content.strip()}
        for speaker, content in zip(pieces[1::2], pieces[2::2])
    ]
