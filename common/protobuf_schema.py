"""Protobuf message classes built from a few lines of schema, with no generated `_pb2` module.

Two wire formats here are protobuf: Loki's push API and Prometheus remote write. Each needs a
handful of messages; describing them in code keeps protoc out of the build and the field numbers
next to the code that relies on them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf import (  # type: ignore[import-untyped]
    descriptor_pb2,
    descriptor_pool,
    message_factory,
)

__all__ = ["Field", "message_classes"]

#: (name, number, type, message type name or None, repeated)
Field = tuple[str, int, str, str | None, bool]

_TYPES = {
    "bytes": descriptor_pb2.FieldDescriptorProto.TYPE_BYTES,
    "string": descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
    "double": descriptor_pb2.FieldDescriptorProto.TYPE_DOUBLE,
    "int64": descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
    "uint64": descriptor_pb2.FieldDescriptorProto.TYPE_UINT64,
    "message": descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
}


def message_classes(
    package: str,
    messages: Mapping[str, Sequence[Field]],
    *,
    dependencies: Sequence[Any] = (),
) -> dict[str, Any]:
    """Message classes of `package`, by name. `dependencies` are file descriptors it refers to
    (e.g. `timestamp_pb2.DESCRIPTOR` for `.google.protobuf.Timestamp`)."""
    proto = descriptor_pb2.FileDescriptorProto(
        name=f"sre/{package}.proto", package=package, syntax="proto3", dependency=[d.name for d in dependencies]
    )
    label = descriptor_pb2.FieldDescriptorProto
    for message_name, fields in messages.items():
        described = proto.message_type.add(name=message_name)
        for name, number, kind, type_name, repeated in fields:
            described.field.add(
                name=name,
                number=number,
                type=_TYPES[kind],
                label=label.LABEL_REPEATED if repeated else label.LABEL_OPTIONAL,
                **({"type_name": type_name} if type_name else {}),
            )
    pool = descriptor_pool.DescriptorPool()
    for dependency in dependencies:
        pool.Add(descriptor_pb2.FileDescriptorProto.FromString(dependency.serialized_pb))
    pool.Add(proto)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{package}.{name}")) for name in messages}
