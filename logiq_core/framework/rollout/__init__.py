"""The rollout gate: per-server feature gating, its stored state, audit, metrics and CLI."""

from beanie import Document

from logiq_core.framework.rollout.gate import RolloutGate
from logiq_core.framework.rollout.metrics import FeatureMetrics
from logiq_core.framework.rollout.models import ALL_DOCUMENTS
from logiq_core.framework.rollout.rules import FeatureState, bucket_of, decide
from logiq_core.framework.rollout.store import RolloutSnapshot, RolloutStore


def document_models() -> list[type[Document]]:
    return list(ALL_DOCUMENTS)


__all__ = [
    "FeatureMetrics",
    "FeatureState",
    "RolloutGate",
    "RolloutSnapshot",
    "RolloutStore",
    "bucket_of",
    "decide",
    "document_models",
]
