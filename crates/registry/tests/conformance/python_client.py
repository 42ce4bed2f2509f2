"""Drives our registry with Confluent's own Python client (PyPI confluent-kafka, pinned in
requirements.txt), as REGISTRY_API.md section 4.1 lists: every SchemaRegistryClient call a
producer or an operator makes, the error codes it reacts to, and Avro and Protobuf serializer /
deserializer round trips whose bytes travel through the Kafka broker.

Usage: python_client.py REGISTRY_URL BOOTSTRAP_SERVERS

Runs every check, prints "ok NAME" or "FAIL NAME: why" for each, and exits 1 if any failed.
Started by crates/registry/tests/conformance_python.rs against a registry and broker of its own.
"""

import base64
import json
import sys
import time
import traceback
import urllib.error
import urllib.request
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

URL, BOOTSTRAP = sys.argv[1], sys.argv[2]
RUN = uuid.uuid4().hex[:8]
sr = SchemaRegistryClient({"url": URL})

ORDER_V1 = {
    "type": "record",
    "name": "OrderCreated",
    "namespace": "shop.orders",
    "fields": [
        {"name": "order_id", "type": "string"},
        {"name": "customer_id", "type": "string"},
        {"name": "amount", "type": "long"},
    ],
}
# BACKWARD compatible: a new field with a default.
ORDER_V2 = dict(ORDER_V1, fields=ORDER_V1["fields"] + [{"name": "note", "type": "string", "default": ""}])
# Not BACKWARD compatible: a new field without a default.
ORDER_BREAKING = dict(ORDER_V1, fields=ORDER_V1["fields"] + [{"name": "note", "type": "string"}])

PROTO = """syntax = "proto3";
package conformance.v1;

message Ping {
  string id = 1;
  int64 n = 2;
}
"""


def avro(schema):
    return Schema(json.dumps(schema), "AVRO")


def subject(name):
    return f"{name}-{RUN}-value"


def expect_error(call, status, codes):
    """The call fails with a SchemaRegistryError carrying this HTTP status and one of the codes."""
    try:
        call()
    except SchemaRegistryError as e:
        assert e.http_status_code == status, f"HTTP {e.http_status_code}, expected {status}: {e}"
        assert e.error_code in codes, f"error_code {e.error_code}, expected one of {codes}: {e}"
        return e
    raise AssertionError(f"no error; expected HTTP {status} with one of {codes}")


def raw(method, path, body=None):
    """A request as any HTTP client sends it: status, headers, decoded JSON body."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(URL + path, data=data, method=method)
    req.add_header("Accept", "application/vnd.schemaregistry.v1+json")
    if data is not None:
        req.add_header("Content-Type", "application/vnd.schemaregistry.v1+json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.headers, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, json.loads(e.read() or b"null")


def round_trip_through_kafka(topic, value):
    """Produces `value` to a new one-partition topic and reads it back."""
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    for future in admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)]).values():
        future.result(30)
    producer = Producer({"bootstrap.servers": BOOTSTRAP})
    producer.produce(topic, value=value)
    assert producer.flush(30) == 0, "the producer did not deliver within 30 s"
    consumer = Consumer(
        {"bootstrap.servers": BOOTSTRAP, "group.id": f"conformance-{RUN}", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    deadline = time.time() + 30
    try:
        while time.time() < deadline:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            assert msg.error() is None, f"consumer error: {msg.error()}"
            return msg.value()
    finally:
        consumer.close()
    raise AssertionError("nothing came back from the broker within 30 s")


def ping_class():
    """The Protobuf message class of PROTO, built from its descriptor (no protoc needed)."""
    fd = descriptor_pb2.FileDescriptorProto(name=f"conformance/{RUN}/ping.proto", package="conformance.v1", syntax="proto3")
    msg = fd.message_type.add(name="Ping")
    msg.field.add(name="id", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
                  label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    msg.field.add(name="n", number=2, type=descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
                  label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("conformance.v1.Ping"))


# ---- the checks ----

def check_content_type_and_types():
    status, headers, body = raw("GET", "/schemas/types")
    assert status == 200, status
    assert headers["Content-Type"].startswith("application/vnd.schemaregistry.v1+json"), headers["Content-Type"]
    types = sr.get_schema_types()
    assert "AVRO" in types and "PROTOBUF" in types, types


def check_global_config():
    assert sr.get_compatibility() == "BACKWARD"


def check_register_is_idempotent_and_readable_by_id():
    s = subject("orders")
    first = sr.register_schema(s, avro(ORDER_V1))
    again = sr.register_schema(s, avro(ORDER_V1))
    assert first == again, (first, again)
    fetched = SchemaRegistryClient({"url": URL}).get_schema(first)
    assert json.loads(fetched.schema_str)["name"] == "OrderCreated", fetched.schema_str
    assert fetched.schema_type == "AVRO", fetched.schema_type
    versions = sr.get_schema_versions(first)
    assert [(v.subject, v.version) for v in versions] == [(s, 1)], versions
    assert sr.get_subjects_by_schema_id(first) == [s]


def check_subject_reads():
    s = subject("reads")
    schema_id = sr.register_schema(s, avro(ORDER_V1))
    v2_id = sr.register_schema(s, avro(ORDER_V2))
    assert v2_id != schema_id
    assert s in sr.get_subjects()
    assert sr.get_versions(s) == [1, 2]
    latest = sr.get_latest_version(s)
    assert (latest.version, latest.schema_id, latest.subject) == (2, v2_id, s), latest
    one = sr.get_version(s, 1)
    assert (one.version, one.schema_id) == (1, schema_id), one
    found = SchemaRegistryClient({"url": URL}).lookup_schema(s, avro(ORDER_V1))
    assert (found.version, found.schema_id) == (1, schema_id), found


def check_compatibility_config():
    s = subject("config")
    sr.register_schema(s, avro(ORDER_V1))
    assert sr.set_compatibility(s, "FULL") == {"compatibility": "FULL"}
    assert sr.get_compatibility(s) == "FULL"
    expect_error(lambda: sr.set_compatibility(s, "SIDEWAYS"), 422, [42203])
    assert sr.get_compatibility(s) == "FULL"


def check_compatibility_tests():
    s = subject("compat")
    sr.register_schema(s, avro(ORDER_V1))
    assert sr.test_compatibility(s, avro(ORDER_V2)) is True
    assert sr.test_compatibility(s, avro(ORDER_BREAKING)) is False
    assert sr.test_compatibility(s, avro(ORDER_BREAKING), version=1) is False
    assert sr.test_compatibility_all_versions(s, avro(ORDER_V2)) is True
    assert sr.test_compatibility_all_versions(s, avro(ORDER_BREAKING)) is False
    status, _, body = raw(
        "POST",
        f"/compatibility/subjects/{s}/versions/latest?verbose=true",
        {"schema": json.dumps(ORDER_BREAKING)},
    )
    assert status == 200 and body["is_compatible"] is False, body
    assert body.get("messages"), f"verbose=true gave no messages: {body}"
    assert any("note" in m for m in body["messages"]), body["messages"]


def check_incompatible_and_invalid_registrations():
    s = subject("reject")
    sr.register_schema(s, avro(ORDER_V1))
    expect_error(lambda: sr.register_schema(s, avro(ORDER_BREAKING)), 409, [409, 40901])
    expect_error(lambda: sr.register_schema(s, Schema('{"type": "record", "name": "X"', "AVRO")), 422, [42201])
    assert sr.get_versions(s) == [1], "a refused schema was stored"


def check_not_found_errors():
    s = subject("missing")
    expect_error(lambda: sr.get_latest_version(s), 404, [40401])
    known = subject("known")
    sr.register_schema(known, avro(ORDER_V1))
    expect_error(lambda: sr.get_version(known, 99), 404, [40402])
    expect_error(lambda: SchemaRegistryClient({"url": URL}).get_schema(987654), 404, [40403])
    status, _, body = raw("GET", f"/subjects/{known}/versions/abc")
    assert status == 422 and body["error_code"] == 42202, (status, body)


def check_readonly_mode():
    s = subject("mode")
    sr.register_schema(s, avro(ORDER_V1))
    assert sr.update_mode(s, "READONLY") == "READONLY"
    assert sr.get_mode(s) == "READONLY"
    expect_error(lambda: sr.register_schema(s, avro(ORDER_V2)), 422, [42205])
    assert sr.update_mode(s, "READWRITE") == "READWRITE"
    sr.register_schema(s, avro(ORDER_V2))


def check_avro_serde_round_trip():
    topic = f"orders-{RUN}"
    s = f"{topic}-value"
    schema_id = sr.register_schema(s, avro(ORDER_V1))
    # auto.register.schemas=False: the serializer finds the id by lookup.
    serializer = AvroSerializer(sr, json.dumps(ORDER_V1), conf={"auto.register.schemas": False})
    record = {"order_id": "o1", "customer_id": "c1", "amount": 1234}
    data = serializer(record, SerializationContext(topic, MessageField.VALUE))
    expected = b"\x00" + schema_id.to_bytes(4, "big") + bytes.fromhex("046f31046331a413")
    assert data == expected, f"{data.hex()} != {expected.hex()}"
    received = round_trip_through_kafka(topic, data)
    assert received == data
    deserializer = AvroDeserializer(SchemaRegistryClient({"url": URL}))
    assert deserializer(received, SerializationContext(topic, MessageField.VALUE)) == record


def check_protobuf_text_and_serialized_format():
    s = subject("proto-text")
    schema_id = sr.register_schema(s, Schema(PROTO, "PROTOBUF"))
    assert sr.register_schema(s, Schema(PROTO, "PROTOBUF")) == schema_id
    fresh = SchemaRegistryClient({"url": URL})
    text = fresh.get_schema(schema_id)
    assert text.schema_type == "PROTOBUF" and "message Ping" in text.schema_str, text.schema_str
    serialized = SchemaRegistryClient({"url": URL}).get_schema(schema_id, fmt="serialized")
    fd = descriptor_pb2.FileDescriptorProto.FromString(base64.b64decode(serialized.schema_str))
    assert fd.package == "conformance.v1", fd
    assert [m.name for m in fd.message_type] == ["Ping"], fd


def check_protobuf_serde_round_trip():
    topic = f"pings-{RUN}"
    ping = ping_class()
    serializer = ProtobufSerializer(ping, sr, {"use.deprecated.format": False})
    msg = ping(id="p1", n=42)
    ctx = SerializationContext(topic, MessageField.VALUE)
    data = serializer(msg, ctx)
    latest = sr.get_latest_version(f"{topic}-value")
    # Magic byte, id, then the single 0x00 that stands for message index [0], then the payload.
    expected = b"\x00" + latest.schema_id.to_bytes(4, "big") + b"\x00" + msg.SerializeToString()
    assert data == expected, f"{data.hex()} != {expected.hex()}"
    received = round_trip_through_kafka(topic, data)
    deserializer = ProtobufDeserializer(ping, {"use.deprecated.format": False}, SchemaRegistryClient({"url": URL}))
    back = deserializer(received, ctx)
    assert (back.id, back.n) == ("p1", 42), back


def check_delete_semantics():
    s = subject("deletes")
    sr.register_schema(s, avro(ORDER_V1))
    sr.register_schema(s, avro(ORDER_V2))
    expect_error(lambda: sr.delete_version(s, 2, permanent=True), 404, [40407])
    assert sr.delete_version(s, 2) == 2
    expect_error(lambda: sr.delete_version(s, 2), 404, [40406])
    assert sr.get_versions(s) == [1]
    assert sr.delete_version(s, 2, permanent=True) == 2
    expect_error(lambda: sr.delete_subject(s, permanent=True), 404, [40405])
    assert sr.delete_subject(s) == [1]
    expect_error(lambda: sr.delete_subject(s), 404, [40404])
    assert sr.delete_subject(s, permanent=True) == [1]
    expect_error(lambda: sr.get_versions(s), 404, [40401])


CHECKS = [
    check_content_type_and_types,
    check_global_config,
    check_register_is_idempotent_and_readable_by_id,
    check_subject_reads,
    check_compatibility_config,
    check_compatibility_tests,
    check_incompatible_and_invalid_registrations,
    check_not_found_errors,
    check_readonly_mode,
    check_avro_serde_round_trip,
    check_protobuf_text_and_serialized_format,
    check_protobuf_serde_round_trip,
    check_delete_semantics,
]


def main():
    failed = 0
    for check in CHECKS:
        name = check.__name__.removeprefix("check_")
        try:
            check()
            print(f"ok {name}", flush=True)
        except Exception as e:  # every failure is reported, then the next check runs
            failed += 1
            detail = str(e) or type(e).__name__
            print(f"FAIL {name}: {detail}", flush=True)
            traceback.print_exc(file=sys.stderr)
    print(f"python conformance: {len(CHECKS) - failed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
