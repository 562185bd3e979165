"""A real OTLP receiver (gRPC + HTTP, protobuf + JSON) on loopback: lets tests assert what exporters put on
the wire, inject collector faults, and will back the local trace viewer through the `Sink` protocol."""

from llmtel.receiver._json import otlp_json_to_proto
from llmtel.receiver._server import HTTP_TIMEOUT_S, MAX_MESSAGE_BYTES, MAX_REQUEST_ITEMS, Fault, OTLPReceiver
from llmtel.receiver._store import (
    MemoryStore,
    ReceivedLog,
    ReceivedMetricPoint,
    ReceivedSpan,
    RequestMeta,
    Signal,
    Sink,
    any_value_to_python,
    attributes_to_dict,
)

__all__ = [
    "HTTP_TIMEOUT_S",
    "MAX_MESSAGE_BYTES",
    "MAX_REQUEST_ITEMS",
    "Fault",
    "MemoryStore",
    "OTLPReceiver",
    "ReceivedLog",
    "ReceivedMetricPoint",
    "ReceivedSpan",
    "RequestMeta",
    "Signal",
    "Sink",
    "any_value_to_python",
    "attributes_to_dict",
    "otlp_json_to_proto",
]
