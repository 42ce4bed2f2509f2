//! Hand-written events in the shape `contracts-build` generates: one topic, `orders`, carrying
//! two versions of `OrderCreated` and one of `OrderPaid`, Avro-encoded.

use contracts_core::{
    DecodeError, Event, Format, SchemaInfo, Topic as TopicTrait, TopicMessage, WriterSchema,
};

pub const CREATED_V1: &str = r#"{"type":"record","name":"OrderCreated","namespace":"test.orders","fields":[{"name":"order_id","type":"string"},{"name":"amount","type":"long"}]}"#;
pub const CREATED_V2: &str = r#"{"type":"record","name":"OrderCreated","namespace":"test.orders","fields":[{"name":"order_id","type":"string"},{"name":"amount","type":"long"},{"name":"note","type":"string","default":""}]}"#;
pub const PAID_V1: &str = r#"{"type":"record","name":"OrderPaid","namespace":"test.orders","fields":[{"name":"order_id","type":"string"},{"name":"seq","type":"long"}]}"#;

#[derive(Debug, Clone, Copy, Default)]
pub struct Topic;

impl TopicTrait for Topic {
    const NAME: &'static str = "orders";
    type Message = Message;
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderCreatedV1 {
    pub order_id: String,
    pub amount: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderCreatedV2 {
    pub order_id: String,
    pub amount: i64,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderPaid {
    pub order_id: String,
    pub seq: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    OrderCreated(OrderCreatedV2),
    OrderPaid(OrderPaid),
}

impl Message {
    pub fn order_id(&self) -> &str {
        match self {
            Message::OrderCreated(e) => &e.order_id,
            Message::OrderPaid(e) => &e.order_id,
        }
    }
}

const fn info(name: &'static str, version: u32, schema: &'static str) -> SchemaInfo {
    SchemaInfo {
        name,
        version,
        format: Format::Avro,
        subject: name,
        schema,
        fingerprint: [version as u8; 32],
        message_indexes: &[],
        dependencies: &[],
    }
}

const CREATED_V1_INFO: SchemaInfo = info("test.orders.OrderCreated", 1, CREATED_V1);
const CREATED_V2_INFO: SchemaInfo = info("test.orders.OrderCreated", 2, CREATED_V2);
const PAID_V1_INFO: SchemaInfo = info("test.orders.OrderPaid", 1, PAID_V1);

fn write_long(out: &mut Vec<u8>, v: i64) {
    let mut n = ((v << 1) ^ (v >> 63)) as u64;
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    write_long(out, s.len() as i64);
    out.extend_from_slice(s.as_bytes());
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn long(&mut self, path: &str) -> Result<i64, DecodeError> {
        let mut n: u64 = 0;
        for i in 0..10 {
            let b = *self.buf.get(self.pos).ok_or(DecodeError::Truncated {
                offset: self.pos,
                path: path.into(),
            })?;
            self.pos += 1;
            n |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(((n >> 1) as i64) ^ -((n & 1) as i64));
            }
        }
        Err(DecodeError::Invalid {
            offset: self.pos,
            path: path.into(),
            reason: "overlong varint".into(),
        })
    }

    fn string(&mut self, path: &str) -> Result<String, DecodeError> {
        let len = self.long(path)?;
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| self.pos.checked_add(l))
            .filter(|e| *e <= self.buf.len())
            .ok_or(DecodeError::Truncated {
                offset: self.pos,
                path: path.into(),
            })?;
        let s =
            std::str::from_utf8(&self.buf[self.pos..end]).map_err(|e| DecodeError::Invalid {
                offset: self.pos,
                path: path.into(),
                reason: e.to_string(),
            })?;
        self.pos = end;
        Ok(s.to_string())
    }

    fn finish(&self) -> Result<(), DecodeError> {
        match self.buf.len() - self.pos {
            0 => Ok(()),
            remaining => Err(DecodeError::TrailingBytes { remaining }),
        }
    }
}

fn unreadable(writer: &WriterSchema, reason: &str) -> DecodeError {
    DecodeError::Unreadable {
        schema: writer.id().to_string(),
        reason: reason.into(),
    }
}

impl Event for OrderCreatedV1 {
    type Topic = Topic;
    type Key = String;
    const SCHEMA: &'static SchemaInfo = &CREATED_V1_INFO;

    fn key(&self) -> &String {
        &self.order_id
    }

    fn encode(&self, buf: &mut Vec<u8>) {
        write_str(buf, &self.order_id);
        write_long(buf, self.amount);
    }

    fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader {
            buf: payload,
            pos: 0,
        };
        let v = OrderCreatedV1 {
            order_id: r.string("OrderCreated.order_id")?,
            amount: r.long("OrderCreated.amount")?,
        };
        r.finish()?;
        Ok(v)
    }

    fn decode_from(writer: &WriterSchema, payload: &[u8]) -> Result<Self, DecodeError> {
        match writer.text() {
            CREATED_V1 => Self::decode(payload),
            CREATED_V2 => OrderCreatedV2::decode(payload).map(|v| OrderCreatedV1 {
                order_id: v.order_id,
                amount: v.amount,
            }),
            _ => Err(unreadable(writer, "not an OrderCreated schema")),
        }
    }
}

impl Event for OrderCreatedV2 {
    type Topic = Topic;
    type Key = String;
    const SCHEMA: &'static SchemaInfo = &CREATED_V2_INFO;

    fn key(&self) -> &String {
        &self.order_id
    }

    fn encode(&self, buf: &mut Vec<u8>) {
        write_str(buf, &self.order_id);
        write_long(buf, self.amount);
        write_str(buf, &self.note);
    }

    fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader {
            buf: payload,
            pos: 0,
        };
        let v = OrderCreatedV2 {
            order_id: r.string("OrderCreated.order_id")?,
            amount: r.long("OrderCreated.amount")?,
            note: r.string("OrderCreated.note")?,
        };
        r.finish()?;
        Ok(v)
    }

    fn decode_from(writer: &WriterSchema, payload: &[u8]) -> Result<Self, DecodeError> {
        match writer.text() {
            CREATED_V2 => Self::decode(payload),
            // v1 has no note: the reader's default fills it, as Avro resolution does.
            CREATED_V1 => OrderCreatedV1::decode(payload).map(|v| OrderCreatedV2 {
                order_id: v.order_id,
                amount: v.amount,
                note: String::new(),
            }),
            _ => Err(unreadable(writer, "not an OrderCreated schema")),
        }
    }
}

impl Event for OrderPaid {
    type Topic = Topic;
    type Key = String;
    const SCHEMA: &'static SchemaInfo = &PAID_V1_INFO;

    fn key(&self) -> &String {
        &self.order_id
    }

    fn encode(&self, buf: &mut Vec<u8>) {
        write_str(buf, &self.order_id);
        write_long(buf, self.seq);
    }

    fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader {
            buf: payload,
            pos: 0,
        };
        let v = OrderPaid {
            order_id: r.string("OrderPaid.order_id")?,
            seq: r.long("OrderPaid.seq")?,
        };
        r.finish()?;
        Ok(v)
    }

    fn decode_from(writer: &WriterSchema, payload: &[u8]) -> Result<Self, DecodeError> {
        match writer.text() {
            PAID_V1 => Self::decode(payload),
            _ => Err(unreadable(writer, "not an OrderPaid schema")),
        }
    }
}

impl TopicMessage for Message {
    type Topic = Topic;
    const EVENTS: &'static [&'static SchemaInfo] = &[&CREATED_V2_INFO, &PAID_V1_INFO];

    fn decode_from(writer: &WriterSchema, payload: &[u8]) -> Result<Self, DecodeError> {
        match writer.name() {
            Some("test.orders.OrderCreated") => {
                OrderCreatedV2::decode_from(writer, payload).map(Message::OrderCreated)
            }
            Some("test.orders.OrderPaid") => {
                OrderPaid::decode_from(writer, payload).map(Message::OrderPaid)
            }
            other => Err(unreadable(
                writer,
                &format!("{other:?} is not on topic orders"),
            )),
        }
    }

    fn schema(&self) -> &'static SchemaInfo {
        match self {
            Message::OrderCreated(_) => &CREATED_V2_INFO,
            Message::OrderPaid(_) => &PAID_V1_INFO,
        }
    }
}
