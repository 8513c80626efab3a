"""The paper's data claim (notebook 00): the Alternating Population Method turns a conversation into
several preference triplets without a reward model. The rule and its thresholds.
"""

from __future__ import annotations

from coala_lib.claims import paper
from coala_lib.claims.rule_basics import Assessment, Records, missing_record, notebook_values

#: APM: relative distance from the paper's triplets per conversation that still agrees.
APM_TOLERANCE = 0.25
#: APM: fewer dialogues than this cannot say anything about a per-conversation mean.
MIN_DIALOGUES = 30


def verdict_apm(records: Records) -> Assessment:
    """Triplets per conversation from the Alternating Population Method without wrap-around (00) against the
    paper's 2.46 on EduFeedback. Holds within :data:`APM_TOLERANCE` on EduFeedback itself, with caveats
    within it on a stand-in dataset (HH-RLHF offline), does not hold outside it, inconclusive with fewer than
    :data:`MIN_DIALOGUES` dialogues. The wrap-around count is shown, never credited."""
    v = notebook_values(records, "00_datasets")
    if not v or not v.get("dialogues"):
        return missing_record("record of notebook 00 with its APM counts")
    dataset = str(v.get("apm_dataset", "hh-rlhf"))  # records written before the field: HH-RLHF
    per_conv = v["triplets"] / v["dialogues"]
    ours = (
        f"{per_conv:.3g} per conversation on {dataset} ({v['dialogues']} dialogues, "
        f"{v['assistant_replies'] / v['dialogues']:.3g} replies each; wrap-around, not credited: "
        f"{v['triplets_wrap'] / v['dialogues']:.3g})"
    )
    target = paper.APM_TRIPLETS_PER_CONVERSATION
    note = (
        f"paper: {paper.DATASET_PAIRS['edufeedback']:,} triplets from {paper.EDUFEEDBACK_CONVERSATIONS:,} EduFeedback "
        f"conversations of 4-8 turns; tolerance +-{100 * APM_TOLERANCE:g}%"
    )
    if dataset != "edufeedback":
        note += f"; {dataset} is the offline stand-in (its conversations are shorter)"
    if v["dialogues"] < MIN_DIALOGUES:
        return ours, "inconclusive", note + f"; fewer than {MIN_DIALOGUES} dialogues"
    if abs(per_conv / target - 1) > APM_TOLERANCE:
        return ours, "does not hold at our scale", note
    return ours, ("holds" if dataset == "edufeedback" else "holds with caveats"), note
