"""The third-party side of tests/consume_produce.rs: PyPI confluent-kafka's serializers and
deserializers, talking to our registry, read what `contracts produce` wrote and write what
`contracts consume` must print.

    confluent_records.py produce-avro BOOTSTRAP REGISTRY TOPIC SCHEMA_FILE   (JSON values on stdin)
    confluent_records.py consume-avro BOOTSTRAP REGISTRY TOPIC COUNT
    confluent_records.py consume-protobuf BOOTSTRAP REGISTRY TOPIC COUNT DESCRIPTOR_SET MESSAGE
    confluent_records.py produce-protobuf BOOTSTRAP REGISTRY TOPIC DESCRIPTOR_SET MESSAGE SUBJECT
                                                                       (JSON values on stdin)
Consumers print the records as one JSON array: key, value, headers.
"""

import datetime
import decimal
import json
import sys
import time

from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient, record_subject_name_strategy
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory


def produce_avro(bootstrap, registry, topic, schema_file):
    with open(schema_file) as f:
        schema = f.read()
    serializer = AvroSerializer(
        SchemaRegistryClient({"url": registry}),
        schema,
        conf={"auto.register.schemas": False, "use.latest.version": True,
              "subject.name.strategy": record_subject_name_strategy},
    )
    producer = Producer({"bootstrap.servers": bootstrap})
    ctx = SerializationContext(topic, MessageField.VALUE)
    for line in sys.stdin:
        if not line.strip():
            continue
        value = json.loads(line, parse_float=decimal.Decimal)
        for item in value.get("line_items", []):
            item["unit_price"] = decimal.Decimal(item["unit_price"])
        producer.produce(topic, key=value["order_id"].encode(), value=serializer(value, ctx))
    if producer.flush(30) != 0:
        sys.exit("records left unsent")


def plain(value):
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, datetime.datetime):
        return int(value.timestamp() * 1000)
    return value


def consume(bootstrap, topic, count, decode):
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"confluent-python-{topic}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    ctx = SerializationContext(topic, MessageField.VALUE)
    records = []
    deadline = time.time() + 60
    while len(records) < int(count):
        if time.time() > deadline:
            sys.exit(f"only {len(records)} of {count} records arrived")
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            sys.exit(str(msg.error()))
        records.append(
            {
                "key": msg.key().decode(),
                "value": decode(msg.value(), ctx),
                "headers": {k: v.decode() for k, v in (msg.headers() or [])},
            }
        )
    consumer.close()
    print(json.dumps(records))


def consume_avro(bootstrap, registry, topic, count):
    deserializer = AvroDeserializer(SchemaRegistryClient({"url": registry}))
    consume(bootstrap, topic, count, lambda v, ctx: plain(deserializer(v, ctx)))


def message_class(descriptor_set, message):
    with open(descriptor_set, "rb") as f:
        files = descriptor_pb2.FileDescriptorSet.FromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(message))


def produce_protobuf(bootstrap, registry, topic, descriptor_set, message, subject):
    cls = message_class(descriptor_set, message)
    # The subject the contracts were registered under; nothing is registered here.
    serializer = ProtobufSerializer(
        cls,
        SchemaRegistryClient({"url": registry}),
        conf={"auto.register.schemas": False, "use.latest.version": True,
              "use.deprecated.format": False,
              "subject.name.strategy": lambda ctx, record_name: subject},
    )
    producer = Producer({"bootstrap.servers": bootstrap})
    ctx = SerializationContext(topic, MessageField.VALUE)
    for line in sys.stdin:
        if not line.strip():
            continue
        value = json_format.Parse(line, cls())
        producer.produce(topic, key=value.order_id.encode(), value=serializer(value, ctx))
    if producer.flush(30) != 0:
        sys.exit("records left unsent")


def consume_protobuf(bootstrap, registry, topic, count, descriptor_set, message):
    cls = message_class(descriptor_set, message)
    deserializer = ProtobufDeserializer(cls, {"use.deprecated.format": False})
    consume(
        bootstrap,
        topic,
        count,
        lambda v, ctx: json_format.MessageToDict(
            deserializer(v, ctx), preserving_proto_field_name=True
        ),
    )


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    {
        "produce-avro": produce_avro,
        "consume-avro": consume_avro,
        "consume-protobuf": consume_protobuf,
        "produce-protobuf": produce_protobuf,
    }[mode](*args)
