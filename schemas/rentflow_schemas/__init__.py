"""The one definition of every rentflow event. Money is integer pence; times are UTC-aware."""
from rentflow_schemas.envelope import Envelope, derive_event_id, new_envelope
from rentflow_schemas.registry import TOPICS, TopicSpec, event_id_of, spec_of, topic_spec

__all__ = ["Envelope", "derive_event_id", "new_envelope", "TOPICS", "TopicSpec", "event_id_of", "spec_of", "topic_spec"]
