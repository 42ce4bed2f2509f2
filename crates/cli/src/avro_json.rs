//! Avro values to and from JSON, walking the schema: `consume` prints records as JSON, `produce`
//! turns JSON lines into records and says which field is wrong and what it should be.
//!
//! The JSON is the one people write by hand: a union's value is given as is (`"c-1"` or `null`
//! for `["null", "string"]`), or in the Avro JSON encoding (`{"string": "c-1"}`) when the plain
//! value would fit several branches; a decimal is a string (`"12.50"`); bytes and fixed are
//! strings of code points 0-255, as in the Avro JSON encoding; timestamps, dates and times are
//! their numbers.

use std::collections::HashMap;
use std::fmt;

use apache_avro::Schema;
use apache_avro::schema::{DecimalSchema, InnerDecimalSchema, Name, ResolvedSchema};
use apache_avro::types::Value;
use serde_json::{Map, Number, Value as Json};

/// A schema with its named types, so that references resolve.
#[derive(Debug)]
pub struct AvroCodec {
    pub schema: Schema,
    names: HashMap<Name, Schema>,
}

/// Why a JSON value does not fit the schema: where (`$.line_items[0].quantity`) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl AvroCodec {
    pub fn new(schema: Schema) -> anyhow::Result<Self> {
        let names = ResolvedSchema::try_from(&schema)?
            .get_names()
            .iter()
            .map(|(name, s)| (name.clone(), (*s).clone()))
            .collect();
        Ok(AvroCodec { schema, names })
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        Self::new(Schema::parse_str(text)?)
    }

    /// The record's full name (`shop.orders.OrderCreated`), or the type for other schemas.
    pub fn name(&self) -> String {
        match &self.schema {
            Schema::Record(r) => r.name.to_string(),
            other => describe(other),
        }
    }

    fn resolve<'a>(&'a self, schema: &'a Schema) -> &'a Schema {
        match schema {
            Schema::Ref { name } => self.names.get(name).unwrap_or(schema),
            _ => schema,
        }
    }

    /// Decodes a record's payload (the bytes after the wire header).
    pub fn decode(&self, payload: &[u8]) -> anyhow::Result<Json> {
        let mut reader = payload;
        let value = apache_avro::reader::datum::GenericDatumReader::builder(&self.schema)
            .build()?
            .read_value(&mut reader)?;
        if !reader.is_empty() {
            anyhow::bail!(
                "{} byte(s) left after the value: not written with this schema",
                reader.len()
            );
        }
        Ok(self.to_json(&value, &self.schema))
    }

    /// Encodes a JSON value checked against the schema.
    pub fn encode(&self, json: &Json) -> Result<(Value, Vec<u8>), FieldError> {
        let value = self.value_of(json, &self.schema, "$")?;
        let bytes = apache_avro::writer::datum::GenericDatumWriter::builder(&self.schema)
            .build()
            .and_then(|w| w.write_value_to_vec(value.clone()))
            .map_err(|e| FieldError {
                path: "$".into(),
                message: e.to_string(),
            })?;
        Ok((value, bytes))
    }

    pub fn to_json(&self, value: &Value, schema: &Schema) -> Json {
        let schema = self.resolve(schema);
        match (value, schema) {
            (Value::Union(i, inner), Schema::Union(u)) => match u.variants().get(*i as usize) {
                Some(branch) => self.to_json(inner, branch),
                None => self.to_json(inner, &Schema::Null),
            },
            (Value::Union(_, inner), _) => self.to_json(inner, schema),
            (Value::Record(fields), Schema::Record(r)) => Json::Object(
                fields
                    .iter()
                    .map(|(name, v)| {
                        let field_schema = r
                            .lookup
                            .get(name)
                            .map(|&i| &r.fields[i].schema)
                            .unwrap_or(&Schema::Null);
                        (name.clone(), self.to_json(v, field_schema))
                    })
                    .collect(),
            ),
            (Value::Array(items), Schema::Array(a)) => {
                Json::Array(items.iter().map(|v| self.to_json(v, &a.items)).collect())
            }
            (Value::Map(entries), Schema::Map(m)) => {
                let mut sorted: Vec<_> = entries.iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(b.0));
                Json::Object(
                    sorted
                        .into_iter()
                        .map(|(k, v)| (k.clone(), self.to_json(v, &m.types)))
                        .collect(),
                )
            }
            (Value::Decimal(d), Schema::Decimal(DecimalSchema { scale, .. })) => {
                match Vec::<u8>::try_from(d) {
                    Ok(bytes) => decimal_string(&bytes, *scale),
                    Err(e) => Json::String(format!("<decimal: {e}>")),
                }
            }
            _ => plain(value),
        }
    }

    fn value_of(&self, json: &Json, schema: &Schema, path: &str) -> Result<Value, FieldError> {
        let schema = self.resolve(schema);
        let wrong = || FieldError {
            path: path.to_owned(),
            message: format!("expected {}, found {}", describe(schema), found(json)),
        };
        let int = |json: &Json| json.as_i64().and_then(|n| i32::try_from(n).ok());
        Ok(match schema {
            Schema::Null => match json {
                Json::Null => Value::Null,
                _ => return Err(wrong()),
            },
            Schema::Boolean => Value::Boolean(json.as_bool().ok_or_else(wrong)?),
            Schema::Int => Value::Int(int(json).ok_or_else(wrong)?),
            Schema::Long => Value::Long(json.as_i64().ok_or_else(wrong)?),
            Schema::Float => Value::Float(json.as_f64().ok_or_else(wrong)? as f32),
            Schema::Double => Value::Double(json.as_f64().ok_or_else(wrong)?),
            Schema::String => Value::String(json.as_str().ok_or_else(wrong)?.to_owned()),
            Schema::Bytes => Value::Bytes(code_points(json).ok_or_else(wrong)?),
            Schema::Fixed(f) => {
                let bytes = code_points(json).ok_or_else(wrong)?;
                if bytes.len() != f.size {
                    return Err(FieldError {
                        path: path.to_owned(),
                        message: format!("expected {} byte(s), found {}", f.size, bytes.len()),
                    });
                }
                Value::Fixed(f.size, bytes)
            }
            Schema::Enum(e) => {
                let symbol = json.as_str().ok_or_else(wrong)?;
                let index = e
                    .symbols
                    .iter()
                    .position(|s| s == symbol)
                    .ok_or_else(wrong)?;
                Value::Enum(index as u32, symbol.to_owned())
            }
            Schema::Array(a) => {
                let items = json.as_array().ok_or_else(wrong)?;
                Value::Array(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, item)| self.value_of(item, &a.items, &format!("{path}[{i}]")))
                        .collect::<Result<_, _>>()?,
                )
            }
            Schema::Map(m) => {
                let entries = json.as_object().ok_or_else(wrong)?;
                Value::Map(
                    entries
                        .iter()
                        .map(|(k, v)| {
                            Ok((
                                k.clone(),
                                self.value_of(v, &m.types, &format!("{path}.{k}"))?,
                            ))
                        })
                        .collect::<Result<_, FieldError>>()?,
                )
            }
            Schema::Record(r) => {
                let object = json.as_object().ok_or_else(wrong)?;
                if let Some(unknown) = object.keys().find(|k| !r.lookup.contains_key(*k)) {
                    let known: Vec<&str> = r.fields.iter().map(|f| f.name.as_str()).collect();
                    return Err(FieldError {
                        path: format!("{path}.{unknown}"),
                        message: format!(
                            "{} has no field \"{unknown}\" (its fields: {})",
                            r.name,
                            known.join(", ")
                        ),
                    });
                }
                let mut fields = Vec::with_capacity(r.fields.len());
                for field in &r.fields {
                    let field_path = format!("{path}.{}", field.name);
                    let value = match (object.get(&field.name), &field.default) {
                        (Some(v), _) => self.value_of(v, &field.schema, &field_path)?,
                        (None, Some(default)) => self.value_of(
                            default,
                            &field.schema,
                            &format!("{field_path} (its default)"),
                        )?,
                        (None, None) => {
                            return Err(FieldError {
                                path: field_path,
                                message: format!(
                                    "missing: expected {} (the field has no default)",
                                    describe(self.resolve(&field.schema))
                                ),
                            });
                        }
                    };
                    fields.push((field.name.clone(), value));
                }
                Value::Record(fields)
            }
            Schema::Union(u) => {
                // The Avro JSON encoding names the branch: {"string": "x"}.
                if let Some((key, inner)) = json.as_object().and_then(single_entry)
                    && let Some(i) = u.variants().iter().position(|b| branch_name(b) == key)
                {
                    let value = self.value_of(inner, &u.variants()[i], path)?;
                    return Ok(Value::Union(i as u32, Box::new(value)));
                }
                let mut errors = Vec::new();
                for (i, branch) in u.variants().iter().enumerate() {
                    match self.value_of(json, branch, path) {
                        Ok(value) => return Ok(Value::Union(i as u32, Box::new(value))),
                        Err(e) => errors.push(e),
                    }
                }
                // A record branch that matched in shape says best what is wrong inside it.
                if let Some(deeper) = errors.into_iter().find(|e| e.path != path) {
                    return Err(deeper);
                }
                return Err(wrong());
            }
            Schema::Decimal(d) => {
                let unscaled = parse_decimal(json, d.scale, d.precision).ok_or_else(wrong)?;
                let size = match &d.inner {
                    InnerDecimalSchema::Fixed(f) => Some(f.size),
                    InnerDecimalSchema::Bytes => None,
                };
                let bytes = twos_complement(unscaled, size).ok_or_else(wrong)?;
                Value::Decimal(apache_avro::Decimal::from(bytes))
            }
            Schema::Uuid(_) => Value::Uuid(
                json.as_str()
                    .and_then(|s| apache_avro::Uuid::parse_str(s).ok())
                    .ok_or_else(wrong)?,
            ),
            Schema::Date => Value::Date(int(json).ok_or_else(wrong)?),
            Schema::TimeMillis => Value::TimeMillis(int(json).ok_or_else(wrong)?),
            Schema::TimeMicros => Value::TimeMicros(json.as_i64().ok_or_else(wrong)?),
            Schema::TimestampMillis => Value::TimestampMillis(json.as_i64().ok_or_else(wrong)?),
            Schema::TimestampMicros => Value::TimestampMicros(json.as_i64().ok_or_else(wrong)?),
            Schema::TimestampNanos => Value::TimestampNanos(json.as_i64().ok_or_else(wrong)?),
            Schema::LocalTimestampMillis => {
                Value::LocalTimestampMillis(json.as_i64().ok_or_else(wrong)?)
            }
            Schema::LocalTimestampMicros => {
                Value::LocalTimestampMicros(json.as_i64().ok_or_else(wrong)?)
            }
            Schema::LocalTimestampNanos => {
                Value::LocalTimestampNanos(json.as_i64().ok_or_else(wrong)?)
            }
            Schema::BigDecimal | Schema::Duration(_) | Schema::Ref { .. } => {
                return Err(FieldError {
                    path: path.to_owned(),
                    message: format!("{} values cannot be given as JSON here", describe(schema)),
                });
            }
        })
    }
}

fn single_entry(object: &Map<String, Json>) -> Option<(&str, &Json)> {
    let mut entries = object.iter();
    match (entries.next(), entries.next()) {
        (Some((k, v)), None) => Some((k.as_str(), v)),
        _ => None,
    }
}

/// The name the Avro JSON encoding gives a union branch: the primitive type, or the full name.
fn branch_name(schema: &Schema) -> String {
    match schema {
        Schema::Record(r) => r.name.to_string(),
        Schema::Enum(e) => e.name.to_string(),
        Schema::Fixed(f) => f.name.to_string(),
        Schema::Ref { name } => name.to_string(),
        Schema::Decimal(_) => "bytes".into(),
        Schema::Date | Schema::TimeMillis => "int".into(),
        Schema::Uuid(_) => "string".into(),
        Schema::TimeMicros
        | Schema::TimestampMillis
        | Schema::TimestampMicros
        | Schema::TimestampNanos
        | Schema::LocalTimestampMillis
        | Schema::LocalTimestampMicros
        | Schema::LocalTimestampNanos => "long".into(),
        other => describe(other),
    }
}

/// What a value of `schema` is, as an error says it.
pub fn describe(schema: &Schema) -> String {
    match schema {
        Schema::Null => "null".into(),
        Schema::Boolean => "boolean".into(),
        Schema::Int => "int (a 32-bit integer)".into(),
        Schema::Long => "long (a 64-bit integer)".into(),
        Schema::Float => "float".into(),
        Schema::Double => "double".into(),
        Schema::Bytes => "bytes (a string of code points 0-255)".into(),
        Schema::String => "string".into(),
        Schema::Array(a) => format!("array of {}", describe(&a.items)),
        Schema::Map(m) => format!("map (a JSON object) of {}", describe(&m.types)),
        Schema::Union(u) => {
            let branches: Vec<String> = u.variants().iter().map(describe).collect();
            format!("one of [{}]", branches.join(", "))
        }
        Schema::Record(r) => format!("record {} (a JSON object)", r.name),
        Schema::Enum(e) => format!("enum {} (one of {})", e.name, e.symbols.join(", ")),
        Schema::Fixed(f) => format!("fixed {} of {} byte(s)", f.name, f.size),
        Schema::Decimal(d) => format!(
            "decimal({}, {}) as a string such as \"12.50\"",
            d.precision, d.scale
        ),
        Schema::BigDecimal => "big-decimal".into(),
        Schema::Uuid(_) => "uuid (a string)".into(),
        Schema::Date => "date (days since 1970-01-01, an int)".into(),
        Schema::TimeMillis => "time-millis (an int)".into(),
        Schema::TimeMicros => "time-micros (a long)".into(),
        Schema::TimestampMillis => "timestamp-millis (milliseconds since the epoch)".into(),
        Schema::TimestampMicros => "timestamp-micros (microseconds since the epoch)".into(),
        Schema::TimestampNanos => "timestamp-nanos (nanoseconds since the epoch)".into(),
        Schema::LocalTimestampMillis => "local-timestamp-millis (a long)".into(),
        Schema::LocalTimestampMicros => "local-timestamp-micros (a long)".into(),
        Schema::LocalTimestampNanos => "local-timestamp-nanos (a long)".into(),
        Schema::Duration(_) => "duration".into(),
        Schema::Ref { name } => name.to_string(),
    }
}

/// What was found instead, short.
fn found(json: &Json) -> String {
    let text = json.to_string();
    let kind = match json {
        Json::Null => return "null".into(),
        Json::Bool(_) => "boolean",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    };
    if text.len() > 40 {
        let cut: String = text.chars().take(37).collect();
        format!("{kind} {cut}...")
    } else {
        format!("{kind} {text}")
    }
}

/// The Avro JSON encoding of bytes: each character one byte.
fn code_points(json: &Json) -> Option<Vec<u8>> {
    json.as_str()?
        .chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect()
}

fn bytes_json(bytes: &[u8]) -> Json {
    Json::String(bytes.iter().map(|&b| char::from(b)).collect())
}

/// A decoded value whose JSON does not depend on the schema.
fn plain(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Boolean(b) => Json::Bool(*b),
        Value::Int(n) | Value::Date(n) | Value::TimeMillis(n) => Json::from(*n),
        Value::Long(n)
        | Value::TimeMicros(n)
        | Value::TimestampMillis(n)
        | Value::TimestampMicros(n)
        | Value::TimestampNanos(n)
        | Value::LocalTimestampMillis(n)
        | Value::LocalTimestampMicros(n)
        | Value::LocalTimestampNanos(n) => Json::from(*n),
        Value::Float(f) => float(f64::from(*f)),
        Value::Double(f) => float(*f),
        Value::Bytes(b) | Value::Fixed(_, b) => bytes_json(b),
        Value::String(s) => Json::String(s.clone()),
        Value::Enum(_, symbol) => Json::String(symbol.clone()),
        Value::Union(_, inner) => plain(inner),
        Value::Array(items) => Json::Array(items.iter().map(plain).collect()),
        Value::Map(entries) => {
            Json::Object(entries.iter().map(|(k, v)| (k.clone(), plain(v))).collect())
        }
        Value::Record(fields) => {
            Json::Object(fields.iter().map(|(k, v)| (k.clone(), plain(v))).collect())
        }
        Value::Decimal(d) => match Vec::<u8>::try_from(d) {
            Ok(bytes) => decimal_string(&bytes, 0),
            Err(e) => Json::String(format!("<decimal: {e}>")),
        },
        Value::BigDecimal(d) => Json::String(d.to_string()),
        Value::Uuid(u) => Json::String(u.to_string()),
        Value::Duration(d) => serde_json::json!({
            "months": u32::from(d.months()),
            "days": u32::from(d.days()),
            "millis": u32::from(d.millis()),
        }),
    }
}

fn float(f: f64) -> Json {
    Number::from_f64(f).map_or_else(|| Json::String(f.to_string()), Json::Number)
}

/// A decimal's two's-complement big-endian unscaled value, written with `scale` decimals.
fn decimal_string(bytes: &[u8], scale: usize) -> Json {
    if bytes.len() > 16 {
        return Json::String(format!("<decimal of {} bytes>", bytes.len()));
    }
    let mut unscaled: i128 = if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        -1
    } else {
        0
    };
    for &b in bytes {
        unscaled = (unscaled << 8) | i128::from(b);
    }
    let digits = unscaled.unsigned_abs().to_string();
    let sign = if unscaled < 0 { "-" } else { "" };
    if scale == 0 {
        return Json::String(format!("{sign}{digits}"));
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    Json::String(format!("{sign}{int}.{frac}"))
}

/// The unscaled value of a decimal given as a string or a number, when it has at most `scale`
/// decimals and `precision` digits.
fn parse_decimal(json: &Json, scale: usize, precision: usize) -> Option<i128> {
    let text = match json {
        Json::String(s) => s.trim().to_owned(),
        Json::Number(n) => n.to_string(),
        _ => return None,
    };
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.as_str()),
    };
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    if int.is_empty() && frac.is_empty()
        || !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let frac = frac.trim_end_matches('0');
    if frac.len() > scale {
        return None;
    }
    let digits = format!("{int}{frac:0<scale$}");
    let digits = digits.trim_start_matches('0');
    if digits.len() > precision {
        return None;
    }
    let unscaled: i128 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    Some(if negative { -unscaled } else { unscaled })
}

/// The shortest two's-complement big-endian bytes of `n`, or exactly `size` bytes.
fn twos_complement(n: i128, size: Option<usize>) -> Option<Vec<u8>> {
    let full = n.to_be_bytes();
    let fill = if n < 0 { 0xff } else { 0 };
    let mut start = 0;
    while start < 15 && full[start] == fill && (full[start + 1] & 0x80 == fill & 0x80) {
        start += 1;
    }
    let minimal = &full[start..];
    match size {
        None => Some(minimal.to_vec()),
        Some(size) if size >= minimal.len() => {
            let mut out = vec![fill; size - minimal.len()];
            out.extend_from_slice(minimal);
            Some(out)
        }
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORDER: &str = include_str!("../../../schemas/shop/orders/order_created/v3.avsc");

    #[test]
    fn a_json_order_encodes_and_decodes_to_the_same_json() {
        let codec = AvroCodec::parse(ORDER).unwrap();
        let json = serde_json::json!({
            "order_id": "o-1", "product_name": "teapot", "quantity": 2,
            "customer_id": "c-1",
            "line_items": [{"product_name": "teapot", "quantity": 2, "unit_price": "-12.50"}],
            "currency": "GBP", "created_at": 1_795_780_800_000i64
        });
        let (_, bytes) = codec.encode(&json).unwrap();
        assert_eq!(codec.decode(&bytes).unwrap(), json);
    }

    #[test]
    fn missing_fields_with_defaults_take_them_and_unions_take_the_avro_json_encoding() {
        let codec = AvroCodec::parse(ORDER).unwrap();
        let json = serde_json::json!({
            "order_id": "o-1", "product_name": "teapot", "quantity": 2,
            "customer_id": {"string": "c-9"}
        });
        let (_, bytes) = codec.encode(&json).unwrap();
        let back = codec.decode(&bytes).unwrap();
        assert_eq!(back["customer_id"], "c-9");
        assert_eq!(back["currency"], "EUR");
        assert_eq!(back["line_items"], serde_json::json!([]));
        assert_eq!(back["created_at"], Json::Null);
    }

    #[test]
    fn a_wrong_value_is_named_by_its_field_path_and_expected_type() {
        let codec = AvroCodec::parse(ORDER).unwrap();
        let err = |json: Json| codec.encode(&json).unwrap_err().to_string();
        assert_eq!(
            err(serde_json::json!({"order_id": "o", "product_name": "p", "quantity": "two"})),
            "$.quantity: expected int (a 32-bit integer), found string \"two\""
        );
        assert_eq!(
            err(
                serde_json::json!({"order_id": "o", "product_name": "p", "quantity": 1,
                "line_items": [{"product_name": "p", "quantity": 1, "unit_price": "1.234"}]})
            ),
            "$.line_items[0].unit_price: expected decimal(12, 2) as a string such as \"12.50\", \
             found string \"1.234\""
        );
        assert_eq!(
            err(serde_json::json!({"order_id": "o", "quantity": 1})),
            "$.product_name: missing: expected string (the field has no default)"
        );
        assert_eq!(
            err(
                serde_json::json!({"order_id": "o", "product_name": "p", "quantity": 1,
                "currency": "JPY"})
            ),
            "$.currency: expected enum shop.orders.Currency (one of EUR, USD, GBP), found string \"JPY\""
        );
        assert!(
            err(serde_json::json!({"order_id": "o", "product_name": "p", "quantity": 1, "qty": 1}))
                .starts_with("$.qty: shop.orders.OrderCreated has no field \"qty\"")
        );
    }

    #[test]
    fn decimals_round_trip_through_twos_complement() {
        for (text, scale) in [("0.00", 2), ("-0.01", 2), ("128.00", 2), ("-32768", 0)] {
            let n = parse_decimal(&Json::String(text.into()), scale, 20).unwrap();
            let bytes = twos_complement(n, None).unwrap();
            assert_eq!(decimal_string(&bytes, scale), Json::String(text.into()));
        }
    }
}
