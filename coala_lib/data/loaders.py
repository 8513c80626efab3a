"""One entry point for every preference dataset: :func:`load_triplets`.

=================  ===========================================  ========================================
name               Hub id (local files)                          triplets
=================  ===========================================  ========================================
``imdb``           ``stanfordnlp/imdb`` (``imdb-train``)         review prefix, positive over negative
                                                                 continuation (:mod:`coala_lib.data.imdb`)
``ultrafeedback``  ``HuggingFaceH4/ultrafeedback_binarized``     the binarised pair (highest vs lowest
                   (``ultrafeedback-binarized[-sample]-*``)      GPT-4 score), as shipped
``hh-rlhf``        ``Anthropic/hh-rlhf`` (``hh-rlhf-*``)         the native pair, or APM on the chosen
                                                                 transcript (``method="apm"``)
``edufeedback``    ``miria0/EduFeedback`` (``edufeedback-*``)    APM on each conversation
``helpsteer``      ``nvidia/HelpSteer`` (``helpsteer-train``)    per prompt: highest vs lowest
                                                                 helpfulness, ties skipped
=================  ===========================================  ========================================

Splits. UltraFeedback and HH-RLHF ship a train/test split: we keep it (Hub ``train_prefs`` /
``test_prefs`` and ``train`` / ``test``; the offline UltraFeedback sample's train/eval files).
The others, and a local directory holding only one HH-RLHF file, are one pool divided 90/10 by
``seed`` *by conversation or prompt* before any triplet is built (no prompt is on both sides).
``n`` then keeps a seeded random subset of the split's triplets. Validation (and so the duplicate
check) runs on the rows of the requested split only.

Errors. A split that yields no triplet (an empty file, every row invalid, a pool too small for an
eval side) and an ``n`` larger than the split's triplets are errors naming the file, never an empty
or silently smaller dataset; so are arguments of the wrong type (e.g. ``n="300"``) or value (``n=0``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from coala_lib.core.checks import check_choice, check_int
from coala_lib.data.apm import Conversation, apm_triplets, normalize_turns, parse_hh_transcript, render_prompt
from coala_lib.data.imdb import (
    IMDB_TRIPLET_SOURCE,
    check_review,
    generated_triplets,
    pair_reviews,
    prefix_pair_triplets,
)
from coala_lib.data.schema import Triplet
from coala_lib.data.sources import Row, Source, load_rows, subsample
from coala_lib.data.validation import (
    Issue,
    RowError,
    SkipRow,
    ValidationReport,
    as_fields,
    build_triplets,
    require_str,
    warn_dropped,
)

DATASETS: tuple[str, ...] = ("imdb", "ultrafeedback", "hh-rlhf", "edufeedback", "helpsteer")

SOURCES: dict[str, Source] = {
    "imdb": IMDB_TRIPLET_SOURCE,
    "ultrafeedback": Source(
        hub_id="HuggingFaceH4/ultrafeedback_binarized",
        local={
            "train": ("ultrafeedback-binarized-train.jsonl.gz", "ultrafeedback-binarized-sample-train.jsonl.gz"),
            "eval": ("ultrafeedback-binarized-eval.jsonl.gz", "ultrafeedback-binarized-sample-eval.jsonl.gz"),
        },
        hub={"train": "train_prefs", "eval": "test_prefs"},
    ),
    "hh-rlhf": Source(
        hub_id="Anthropic/hh-rlhf",
        local={
            "train": ("hh-rlhf-train.jsonl.gz",),
            "eval": ("hh-rlhf-test.jsonl.gz",),
            "pool": ("hh-rlhf-harmless-base-test.jsonl.gz",),
        },
        hub={"train": "train", "eval": "test"},
    ),
    "edufeedback": Source(
        hub_id="miria0/EduFeedback",
        local={"pool": ("edufeedback-train.jsonl.gz", "edufeedback.jsonl.gz")},
        hub={"pool": "train"},
    ),
    "helpsteer": Source(
        hub_id="nvidia/HelpSteer", local={"pool": ("helpsteer-train.jsonl.gz",)}, hub={"pool": "train"}
    ),
}

# Expected EduFeedback row (its exact schema is only on the Hub): a list of turns under the first
# of these fields found (or ``conversation_field``), each ``{"role": ..., "content": ...}``, and
# optionally a system prompt under ``system_field``. A conversation stored as a JSON string is parsed.
CONVERSATION_FIELDS: tuple[str, ...] = ("conversation", "conversations", "messages", "dialogue")


@dataclass
class TripletDataset:
    """The triplets of one dataset split, the validation report and the parameters that made them."""

    name: str
    split: str
    triplets: list[Triplet]
    report: ValidationReport
    params: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.triplets)

    def __iter__(self) -> Iterator[Triplet]:
        return iter(self.triplets)

    def __getitem__(self, index: int) -> Triplet:
        return self.triplets[index]

    def to_frame(self) -> pd.DataFrame:
        """One row per triplet: prompt, chosen, rejected, source, row (``meta`` left out)."""
        return pd.DataFrame([{k: v for k, v in t.to_dict().items() if k != "meta"} for t in self.triplets])


def load_triplets(
    dataset: str,
    split: str,
    *,
    n: int | None = None,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
    **options: Any,
) -> TripletDataset:
    """Load ``dataset``'s ``split`` ("train" or "eval") as validated preference triplets.

    Rows come from ``data_dir`` (default ``$COALA_DATA_DIR``) or, when neither is set, the Hub.
    ``options`` per dataset (defaults in brackets):

    * ``imdb``: ``variant`` ["fast"] or "generated"; ``prompt_words`` [8]; ``max_words`` [48];
      for "generated": ``generator``, ``generator_key``, ``judge`` (required), ``cache_root`` [None].
    * ``hh-rlhf``: ``method`` ["pairs"] or "apm"; ``tokenizer`` [None]; ``wrap`` [False] (APM only).
    * ``edufeedback``: ``conversation_field`` [first of :data:`CONVERSATION_FIELDS` present];
      ``system_field`` ["system_prompt"]; ``role_key`` ["role"]; ``content_key`` ["content"];
      ``tokenizer`` [None]; ``wrap`` [False].
    * ``ultrafeedback``, ``helpsteer``: none.
    """
    check_choice("dataset", dataset, DATASETS)
    check_choice("split", split, ("train", "eval"))
    check_int("n", n, minimum=0, allow_none=True)
    if n == 0:
        raise ValueError("n=0 asks for no triplets; pass n >= 1 to draw that many, or n=None for all of them")
    check_int("seed", seed)
    builder, allowed, group_key = BUILDERS[dataset]
    unknown = set(options) - set(allowed)
    if unknown:
        raise TypeError(f"unknown option(s) {sorted(unknown)} for dataset {dataset!r}; valid: {sorted(allowed)}")
    rows, origin = load_rows(SOURCES[dataset], split, seed, data_dir, group_key=group_key)
    triplets, report = builder(rows, n=n, seed=seed, **options)
    report.source = origin["read"] if origin["origin"] == "local" else f"{origin['hub_id']} split {origin['read']}"
    where = f"{dataset} {split} split ({report.source}, {origin['split_rule']})"
    if not triplets:
        if not rows:
            raise ValueError(f"the {where} has no rows; use a larger file or the other split")
        raise ValueError(f"none of the {report.rows} rows of the {where} gave a valid triplet: {report.first_issues()}")
    if n is not None and n > len(triplets) and options.get("variant") != "generated":
        raise ValueError(
            f"n={n} but the {where} holds {len(triplets)} valid triplets; pass n <= {len(triplets)}, or n=None for all"
        )
    params = {"dataset": dataset, "split": split, "n": n, "seed": seed, **origin}
    params.update(
        {k: v if isinstance(v, (str, int, float, bool, type(None))) else type(v).__name__ for k, v in options.items()}
    )
    return TripletDataset(dataset, split, subsample(triplets, n, seed), report, params)


# ---------------------------------------------------------------- per-dataset builders


def _final_reply(record: Mapping[str, Any], name: str) -> str:
    """A response given as a plain string, or as a message list whose last turn is the assistant's."""
    value = record.get(name)
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value:
        last = value[-1]
        if isinstance(last, Mapping) and last.get("role") == "assistant" and isinstance(last.get("content"), str):
            return last["content"]
        raise RowError(name, f"the last message of {name!r} must be an assistant turn with string content")
    if value is None:
        raise RowError(name, f"missing field {name!r}")
    raise RowError(name, f"field {name!r} must be a string or a list of messages, got {type(value).__name__}")


def _ultrafeedback(row_id: int | str, record: Mapping[str, Any]) -> list[Triplet]:
    prompt = require_str(record, "prompt")
    metadata = record.get("metadata")
    scores: Mapping[str, Any] = metadata if isinstance(metadata, Mapping) else record
    meta = {k: scores.get(k) for k in ("score_chosen", "score_rejected") if k in scores}
    meta.update({k: record[k] for k in ("source_index", "prompt_id") if k in record})
    return [
        Triplet(prompt, _final_reply(record, "chosen"), _final_reply(record, "rejected"), "ultrafeedback", row_id, meta)
    ]


def _build_ultrafeedback(rows: list[Row], **_: Any) -> tuple[list[Triplet], ValidationReport]:
    return build_triplets("ultrafeedback", rows, _ultrafeedback)


def _build_hh(
    rows: list[Row], *, method: str = "pairs", tokenizer: Any = None, wrap: bool = False, **_: Any
) -> tuple[list[Triplet], ValidationReport]:
    if method not in ("pairs", "apm"):
        raise ValueError(f"method must be 'pairs' (the dataset's own pair) or 'apm', got {method!r}")

    def pairs(row_id: int | str, record: Mapping[str, Any]) -> list[Triplet]:
        chosen = parse_hh_transcript(require_str(record, "chosen"), "chosen")
        rejected = parse_hh_transcript(require_str(record, "rejected"), "rejected")
        if chosen[:-1] != rejected[:-1] or chosen[-1]["role"] != "assistant" or rejected[-1]["role"] != "assistant":
            raise RowError("rejected", "chosen and rejected transcripts must differ only in the last assistant turn")
        context = normalize_turns(chosen[:-1])
        prompt = render_prompt(context.system, context.turns, tokenizer)
        return [
            Triplet(prompt, chosen[-1]["content"], rejected[-1]["content"], "hh-rlhf", row_id, {"n_turns": len(chosen)})
        ]

    def apm(row_id: int | str, record: Mapping[str, Any]) -> list[Triplet]:
        conversation = normalize_turns(parse_hh_transcript(require_str(record, "chosen"), "chosen"))
        return _apm_or_skip(conversation, "hh-rlhf", row_id, tokenizer, wrap)

    return build_triplets("hh-rlhf", rows, pairs if method == "pairs" else apm)


def load_hh_conversations(
    split: str = "train", *, seed: int = 0, data_dir: str | os.PathLike | None = None
) -> dict[int | str, Conversation]:
    """The HH-RLHF dialogues of ``split`` (their ``chosen`` transcripts) as normalised conversations,
    keyed by row. Malformed rows (a line that is not JSON, no ``chosen`` transcript, one without turns) are
    left out and reported as :func:`load_triplets` reports its dropped rows: one warning saying how many,
    here with the first rows and why (:func:`coala_lib.data.validation.warn_dropped`)."""
    rows, origin = load_rows(SOURCES["hh-rlhf"], split, seed, data_dir)
    report = ValidationReport(f"hh-rlhf {split} conversations", source=str(origin["read"]))
    found = {}
    for row_id, record in rows:
        report.rows += 1
        try:
            found[row_id] = normalize_turns(parse_hh_transcript(require_str(as_fields(record), "chosen")))
        except RowError as err:
            report.issues.append(Issue(report.dataset, row_id, "schema", err.field, str(err)))
    report.survivors["schema"] = len(found)
    warn_dropped(report, detail=True)
    return found


def _apm_or_skip(
    conversation: Conversation, source: str, row_id: int | str, tokenizer: Any, wrap: bool
) -> list[Triplet]:
    triplets = apm_triplets(conversation, source=source, row=row_id, tokenizer=tokenizer, wrap=wrap)
    if not triplets:
        raise SkipRow("fewer than two assistant replies (no APM pair)")
    return triplets


def _build_edufeedback(
    rows: list[Row],
    *,
    conversation_field: str | None = None,
    system_field: str = "system_prompt",
    role_key: str = "role",
    content_key: str = "content",
    tokenizer: Any = None,
    wrap: bool = False,
    **_: Any,
) -> tuple[list[Triplet], ValidationReport]:
    def convert(row_id: int | str, record: Mapping[str, Any]) -> list[Triplet]:
        name = conversation_field or next((f for f in CONVERSATION_FIELDS if f in record), CONVERSATION_FIELDS[0])
        turns = record.get(name)
        if turns is None:
            raise RowError(name, f"missing conversation field {name!r}; set conversation_field= to the right one")
        if isinstance(turns, str):
            try:
                turns = json.loads(turns)
            except json.JSONDecodeError as err:
                raise RowError(name, f"conversation {name!r} is a string but not JSON ({err.msg})") from None
        system = record.get(system_field)
        if system is not None and not isinstance(system, str):
            raise RowError(system_field, f"system prompt {system_field!r} must be a string")
        conversation = normalize_turns(turns, system=system, role_key=role_key, content_key=content_key)
        return _apm_or_skip(conversation, "edufeedback", row_id, tokenizer, wrap)

    return build_triplets("edufeedback", rows, convert)


def _check_helpsteer(record: Mapping[str, Any]) -> None:
    require_str(record, "prompt")
    require_str(record, "response")
    score = record.get("helpfulness")
    if isinstance(score, bool) or not isinstance(score, (int, float)):
        raise RowError("helpfulness", f"helpfulness must be a number, got {type(score).__name__}")


def _group_by_prompt(rows: list[Row]) -> list[Row]:
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(row[1]["prompt"], []).append(row)
    return [(members[0][0], {"prompt": prompt, "responses": members}) for prompt, members in groups.items()]


def _helpsteer(unit_id: int | str, unit: Mapping[str, Any]) -> list[Triplet]:
    """Highest over lowest helpfulness; among equal scores the first in file order is taken."""
    responses = unit["responses"]
    if len(responses) < 2:
        raise SkipRow("only one response to the prompt")
    best = max(responses, key=lambda r: r[1]["helpfulness"])  # max/min keep the first on ties
    worst = min(responses, key=lambda r: r[1]["helpfulness"])
    if best[1]["helpfulness"] == worst[1]["helpfulness"]:
        raise SkipRow("all responses tie on helpfulness")
    meta = {
        "helpfulness_chosen": best[1]["helpfulness"],
        "helpfulness_rejected": worst[1]["helpfulness"],
        "chosen_row": best[0],
        "rejected_row": worst[0],
    }
    return [Triplet(unit["prompt"], best[1]["response"], worst[1]["response"], "helpsteer", unit_id, meta)]


def _build_helpsteer(rows: list[Row], **_: Any) -> tuple[list[Triplet], ValidationReport]:
    return build_triplets("helpsteer", rows, _helpsteer, check_row=_check_helpsteer, group=_group_by_prompt)


def _build_imdb(
    rows: list[Row],
    *,
    n: int | None,
    seed: int,
    variant: str = "fast",
    prompt_words: int = 8,
    max_words: int = 48,
    generator: Any = None,
    generator_key: Mapping[str, Any] | None = None,
    judge: Any = None,
    cache_root: str | os.PathLike | None = None,
) -> tuple[list[Triplet], ValidationReport]:
    if variant == "fast":
        triplets, report = build_triplets(
            "imdb",
            rows,
            prefix_pair_triplets(prompt_words, max_words),
            check_row=check_review,
            group=pair_reviews(seed),
        )
        unpaired = report.survivors["schema"] - report.candidates  # every pair of reviews gives two triplets
        if unpaired:
            report.skipped["surplus review of the larger class, left unpaired"] += unpaired
        return triplets, report
    if variant != "generated":
        raise ValueError(f"variant must be 'fast' (real reviews) or 'generated' (sampled + judged), got {variant!r}")
    if generator is None or generator_key is None or judge is None:
        raise ValueError(
            "variant='generated' needs generator=, generator_key= and judge= (see coala_lib.evaluation.sentiment)"
        )

    def generate(clean: list[Row]) -> list[Row]:  # batched: one generator call for the whole split
        if n is not None and n > len(clean):
            raise ValueError(
                f"n={n} but the imdb split holds {len(clean)} valid reviews to prompt from; pass n <= {len(clean)}"
            )
        chosen_rows = subsample(clean, n, seed)
        made = generated_triplets(
            chosen_rows,
            generator=generator,
            generator_key=generator_key,
            judge=judge,
            prompt_words=prompt_words,
            cache_root=cache_root,
        )
        return [(t.row, {"triplet": t}) for t in made]

    return build_triplets("imdb", rows, lambda _, unit: [unit["triplet"]], check_row=check_review, group=generate)


def _prompt_of(row: Row) -> Any:
    record = row[1]
    return (
        record["prompt"] if isinstance(record, Mapping) and isinstance(record.get("prompt"), str) else ("row", row[0])
    )


# Every builder takes (rows, *, n, seed, **options); the non-IMDb ones ignore n and seed.
Builder = Callable[..., tuple[list[Triplet], ValidationReport]]

BUILDERS: dict[str, tuple[Builder, tuple[str, ...], Callable[[Row], Any] | None]] = {
    "imdb": (
        _build_imdb,
        ("variant", "prompt_words", "max_words", "generator", "generator_key", "judge", "cache_root"),
        None,
    ),
    "ultrafeedback": (_build_ultrafeedback, (), None),
    "hh-rlhf": (_build_hh, ("method", "tokenizer", "wrap"), None),
    "edufeedback": (
        _build_edufeedback,
        ("conversation_field", "system_field", "role_key", "content_key", "tokenizer", "wrap"),
        None,
    ),
    "helpsteer": (_build_helpsteer, (), _prompt_of),
}
