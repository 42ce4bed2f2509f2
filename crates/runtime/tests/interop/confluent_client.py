"""The third-party side of the runtime's interop test (tests/interop.rs).

PyPI confluent-kafka, with its AvroSerializer and AvroDeserializer talking to our registry,
writes `OrderCreated` v3 records that our typed consumer must read, and reads the records our
typed producer wrote.

    confluent_client.py produce BOOTSTRAP REGISTRY TOPIC SCHEMA_FILE COUNT
    confluent_client.py consume BOOTSTRAP REGISTRY TOPIC COUNT   (prints the records as JSON)
"""

import datetime
import decimal
import json
import sys
import time

from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient, record_subject_name_strategy
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext


def order(i):
    return {
        "order_id": f"py-{i}",
        "product_name": "teapot",
        "quantity": i + 1,
        "customer_id": None if i % 2 else f"customer-{i}",
        "line_items": [
            {"product_name": "teapot", "quantity": i + 1, "unit_price": decimal.Decimal("12.50")},
            {"product_name": "cup", "quantity": 2, "unit_price": decimal.Decimal("3.05")},
        ],
        "currency": "GBP",
        "created_at": datetime.datetime(2026, 11, 27, 12, 0, i, tzinfo=datetime.timezone.utc),
    }


def produce(bootstrap, registry, topic, schema_file, count):
    client = SchemaRegistryClient({"url": registry})
    with open(schema_file) as f:
        schema = f.read()
    serializer = AvroSerializer(
        client,
        schema,
        conf={"auto.register.schemas": True, "subject.name.strategy": record_subject_name_strategy},
    )
    producer = Producer({"bootstrap.servers": bootstrap})
    ctx = SerializationContext(topic, MessageField.VALUE)
    for i in range(int(count)):
        value = order(i)
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


def consume(bootstrap, registry, topic, count):
    deserializer = AvroDeserializer(SchemaRegistryClient({"url": registry}))
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
                "value": plain(deserializer(msg.value(), ctx)),
                "headers": {k: v.decode() for k, v in (msg.headers() or [])},
            }
        )
    consumer.close()
    print(json.dumps(records))


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    {"produce": produce, "consume": consume}[mode](*args)
