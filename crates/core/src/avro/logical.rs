//! Avro logical types as well-known Rust types: `decimal` → [`Decimal`], `uuid` → [`Uuid`],
//! `date` → [`NaiveDate`], `time-*` → [`NaiveTime`], `timestamp-*` → [`DateTime<Utc>`],
//! `local-timestamp-*` → [`NaiveDateTime`].
//!
//! Conversions to the underlying Avro value never fail or allocate; conversions from it fail
//! with a [`DecodeError`](crate::DecodeError) when the value is out of the Rust type's range.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::binary::{Reader, write_bytes, write_fixed, write_int, write_long, write_str};

/// Days from 0001-01-01 (chrono's day 1) to 1970-01-01.
const EPOCH_DAYS_FROM_CE: i32 = 719_163;

/// The unscaled value of `v` at `scale`: what Avro stores for a decimal.
#[inline]
fn unscaled(v: &Decimal, scale: u32) -> i128 {
    if v.scale() == scale {
        // The common case: values built at the schema's scale need no rescaling.
        return v.mantissa();
    }
    let mut d = *v;
    d.rescale(scale);
    let m = d.mantissa();
    match scale.checked_sub(d.scale()) {
        // `rescale` leaves a value as it is when the new scale does not fit 96 bits.
        Some(up) if up > 0 => 10i128
            .checked_pow(up)
            .and_then(|f| m.checked_mul(f))
            .unwrap_or(m),
        _ => m,
    }
}

/// The shortest big-endian two's-complement form, as Java's `BigInteger.toByteArray` writes it:
/// the bytes and where they start.
#[inline]
fn minimal_be(m: i128) -> ([u8; 16], usize) {
    // Significant bits plus one sign bit, rounded up to whole bytes (at least one).
    let redundant = if m < 0 {
        m.leading_ones()
    } else {
        m.leading_zeros()
    };
    let len = ((128 - redundant + 1).div_ceil(8)).clamp(1, 16) as usize;
    (m.to_be_bytes(), 16 - len)
}

/// Appends a `bytes` decimal at `scale`.
#[inline]
pub fn write_decimal(out: &mut Vec<u8>, v: &Decimal, scale: u32) {
    let (bytes, start) = minimal_be(unscaled(v, scale));
    write_bytes(out, &bytes[start..]);
}

/// Appends a `fixed` decimal of `size` bytes at `scale`, sign-extended.
#[inline]
pub fn write_decimal_fixed(out: &mut Vec<u8>, v: &Decimal, scale: u32, size: usize) {
    let m = unscaled(v, scale);
    let bytes = m.to_be_bytes();
    let fill = if m < 0 { 0xff } else { 0 };
    for _ in 16..size.max(16) {
        out.push(fill);
    }
    write_fixed(out, &bytes[16 - size.min(16)..]);
}

fn decimal_from_be(
    b: &[u8],
    scale: u32,
    offset: usize,
    path: &str,
) -> super::binary::ReadResult<Decimal> {
    if b.len() <= 8 {
        // Up to 8 bytes fit an i64: the common case, without 128-bit arithmetic.
        // Shifting in byte by byte (sign-extended) avoids a store-to-load stall on a buffer.
        let mut m: i64 = if b.first().is_some_and(|x| x & 0x80 != 0) {
            -1
        } else {
            0
        };
        for &x in b {
            m = (m << 8) | i64::from(x);
        }
        return Decimal::try_new(m, scale)
            .map_err(|e| Reader::invalid_at(offset, path, format!("decimal out of range: {e}")));
    }
    let negative = b[0] & 0x80 != 0;
    let fill = if negative { 0xff } else { 0 };
    let (extra, tail) = b.split_at(b.len().saturating_sub(16));
    if extra.iter().any(|&x| x != fill) || (!extra.is_empty() && (tail[0] & 0x80 != 0) != negative)
    {
        return Err(Reader::invalid_at(
            offset,
            path,
            "decimal does not fit in 128 bits",
        ));
    }
    let mut buf = [fill; 16];
    buf[16 - tail.len()..].copy_from_slice(tail);
    Decimal::try_from_i128_with_scale(i128::from_be_bytes(buf), scale)
        .map_err(|e| Reader::invalid_at(offset, path, format!("decimal out of range: {e}")))
}

impl Reader<'_> {
    /// Reads a `bytes` decimal at `scale`.
    #[inline]
    pub fn decimal(&mut self, scale: u32, path: &str) -> super::binary::ReadResult<Decimal> {
        let at = self.position();
        let b = self.bytes(path)?;
        decimal_from_be(b, scale, at, path)
    }

    /// Reads a `fixed` decimal of `size` bytes at `scale`.
    #[inline]
    pub fn decimal_fixed(
        &mut self,
        size: usize,
        scale: u32,
        path: &str,
    ) -> super::binary::ReadResult<Decimal> {
        let at = self.position();
        let b = self.raw(size, path)?;
        decimal_from_be(b, scale, at, path)
    }

    /// Reads a `uuid` written as a string.
    #[inline]
    pub fn uuid(&mut self, path: &str) -> super::binary::ReadResult<Uuid> {
        let at = self.position();
        let s = self.str(path)?;
        Uuid::try_parse(s).map_err(|e| Reader::invalid_at(at, path, format!("not a UUID: {e}")))
    }

    /// Reads a `date`: days since 1970-01-01.
    #[inline]
    pub fn date(&mut self, path: &str) -> super::binary::ReadResult<NaiveDate> {
        let at = self.position();
        let days = self.int(path)?;
        days.checked_add(EPOCH_DAYS_FROM_CE)
            .and_then(NaiveDate::from_num_days_from_ce_opt)
            .ok_or_else(|| Reader::invalid_at(at, path, format!("date {days} is out of range")))
    }

    /// Reads a `time-millis`: milliseconds after midnight.
    #[inline]
    pub fn time_millis(&mut self, path: &str) -> super::binary::ReadResult<NaiveTime> {
        let at = self.position();
        let ms = self.int(path)?;
        time_from(i64::from(ms), 1_000).ok_or_else(|| {
            Reader::invalid_at(at, path, format!("time-millis {ms} is out of range"))
        })
    }

    /// Reads a `time-micros`: microseconds after midnight.
    #[inline]
    pub fn time_micros(&mut self, path: &str) -> super::binary::ReadResult<NaiveTime> {
        let at = self.position();
        let us = self.long(path)?;
        time_from(us, 1_000_000).ok_or_else(|| {
            Reader::invalid_at(at, path, format!("time-micros {us} is out of range"))
        })
    }

    /// Reads a `timestamp-millis`.
    #[inline]
    pub fn timestamp_millis(&mut self, path: &str) -> super::binary::ReadResult<DateTime<Utc>> {
        let at = self.position();
        let v = self.long(path)?;
        DateTime::from_timestamp_millis(v)
            .ok_or_else(|| Reader::invalid_at(at, path, format!("timestamp {v} is out of range")))
    }

    /// Reads a `timestamp-micros`.
    #[inline]
    pub fn timestamp_micros(&mut self, path: &str) -> super::binary::ReadResult<DateTime<Utc>> {
        let at = self.position();
        let v = self.long(path)?;
        DateTime::from_timestamp_micros(v)
            .ok_or_else(|| Reader::invalid_at(at, path, format!("timestamp {v} is out of range")))
    }

    /// Reads a `local-timestamp-millis`.
    #[inline]
    pub fn local_timestamp_millis(
        &mut self,
        path: &str,
    ) -> super::binary::ReadResult<NaiveDateTime> {
        self.timestamp_millis(path).map(|t| t.naive_utc())
    }

    /// Reads a `local-timestamp-micros`.
    #[inline]
    pub fn local_timestamp_micros(
        &mut self,
        path: &str,
    ) -> super::binary::ReadResult<NaiveDateTime> {
        self.timestamp_micros(path).map(|t| t.naive_utc())
    }
}

fn time_from(v: i64, per_second: i64) -> Option<NaiveTime> {
    if !(0..86_400 * per_second).contains(&v) {
        return None;
    }
    let secs = u32::try_from(v / per_second).ok()?;
    let nanos = u32::try_from((v % per_second) * (1_000_000_000 / per_second)).ok()?;
    NaiveTime::from_num_seconds_from_midnight_opt(secs, nanos)
}

#[inline]
pub fn write_uuid(out: &mut Vec<u8>, v: &Uuid) {
    let mut buf = [0u8; 36];
    write_str(out, v.hyphenated().encode_lower(&mut buf));
}

#[inline]
pub fn write_date(out: &mut Vec<u8>, v: &NaiveDate) {
    use chrono::Datelike;
    write_int(out, v.num_days_from_ce() - EPOCH_DAYS_FROM_CE);
}

/// Sub-second part of a time in `unit`ths of a second; a leap second's extra second is clamped.
fn sub_second(nanos: u32, per_second: u32) -> u32 {
    nanos.min(999_999_999) / (1_000_000_000 / per_second)
}

#[inline]
pub fn write_time_millis(out: &mut Vec<u8>, v: &NaiveTime) {
    let ms = v.num_seconds_from_midnight() * 1_000 + sub_second(v.nanosecond(), 1_000);
    write_int(out, ms as i32);
}

#[inline]
pub fn write_time_micros(out: &mut Vec<u8>, v: &NaiveTime) {
    let us = i64::from(v.num_seconds_from_midnight()) * 1_000_000
        + i64::from(sub_second(v.nanosecond(), 1_000_000));
    write_long(out, us);
}

#[inline]
pub fn write_timestamp_millis(out: &mut Vec<u8>, v: &DateTime<Utc>) {
    write_long(out, v.timestamp_millis());
}

#[inline]
pub fn write_timestamp_micros(out: &mut Vec<u8>, v: &DateTime<Utc>) {
    write_long(out, v.timestamp_micros());
}

#[inline]
pub fn write_local_timestamp_millis(out: &mut Vec<u8>, v: &NaiveDateTime) {
    write_long(out, v.and_utc().timestamp_millis());
}

#[inline]
pub fn write_local_timestamp_micros(out: &mut Vec<u8>, v: &NaiveDateTime) {
    write_long(out, v.and_utc().timestamp_micros());
}

/// Values for schema defaults of logical types. A default the type cannot hold (a schema
/// error the generator rejects) falls back to the type's zero value.
pub mod default {
    use super::*;

    pub fn decimal(unscaled: i128, scale: u32) -> Decimal {
        Decimal::try_from_i128_with_scale(unscaled, scale).unwrap_or_default()
    }

    pub fn uuid(text: &str) -> Uuid {
        Uuid::try_parse(text).unwrap_or_default()
    }

    pub fn date(days: i32) -> NaiveDate {
        days.checked_add(EPOCH_DAYS_FROM_CE)
            .and_then(NaiveDate::from_num_days_from_ce_opt)
            .unwrap_or_default()
    }

    pub fn time_millis(ms: i64) -> NaiveTime {
        time_from(ms, 1_000).unwrap_or_default()
    }

    pub fn time_micros(us: i64) -> NaiveTime {
        time_from(us, 1_000_000).unwrap_or_default()
    }

    pub fn timestamp_millis(v: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(v).unwrap_or_default()
    }

    pub fn timestamp_micros(v: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(v).unwrap_or_default()
    }

    pub fn local_timestamp_millis(v: i64) -> NaiveDateTime {
        timestamp_millis(v).naive_utc()
    }

    pub fn local_timestamp_micros(v: i64) -> NaiveDateTime {
        timestamp_micros(v).naive_utc()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn decimals_use_minimal_twos_complement_like_java() {
        let cases: [(&str, &[u8]); 5] = [
            ("0.00", &[0x00]),
            ("1.27", &[0x7f]),
            ("1.28", &[0x00, 0x80]),
            ("-1.28", &[0x80]),
            ("-1.29", &[0xff, 0x7f]),
        ];
        for (text, expect) in cases {
            let mut out = Vec::new();
            write_decimal(&mut out, &Decimal::from_str(text).unwrap(), 2);
            assert_eq!(&out[1..], expect, "{text}");
            let back = Reader::new(&out).decimal(2, "d").unwrap();
            assert_eq!(back, Decimal::from_str(text).unwrap());
        }
    }

    #[test]
    fn decimals_are_rescaled_to_the_schema_scale() {
        let mut out = Vec::new();
        write_decimal(&mut out, &Decimal::from(3), 2);
        assert_eq!(out, [0x04, 0x01, 0x2c]); // 300
    }

    #[test]
    fn fixed_decimals_are_sign_extended() {
        let mut out = Vec::new();
        write_decimal_fixed(&mut out, &Decimal::from_str("-0.01").unwrap(), 2, 4);
        assert_eq!(out, [0xff; 4]);
        let back = Reader::new(&out).decimal_fixed(4, 2, "d").unwrap();
        assert_eq!(back, Decimal::from_str("-0.01").unwrap());
    }

    #[test]
    fn a_decimal_wider_than_rust_decimal_is_an_error() {
        let mut out = Vec::new();
        write_bytes(&mut out, &[0x7f; 17]);
        assert!(Reader::new(&out).decimal(0, "amount").is_err());
    }

    #[test]
    fn dates_times_and_timestamps_round_trip() {
        let mut out = Vec::new();
        let d = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
        write_date(&mut out, &d);
        let t = NaiveTime::from_hms_micro_opt(23, 59, 58, 123_456).unwrap();
        write_time_micros(&mut out, &t);
        let ts = DateTime::from_timestamp_millis(-1).unwrap();
        write_timestamp_millis(&mut out, &ts);
        let mut r = Reader::new(&out);
        assert_eq!(r.date("d").unwrap(), d);
        assert_eq!(r.time_micros("t").unwrap(), t);
        assert_eq!(r.timestamp_millis("ts").unwrap(), ts);
        r.finish().unwrap();
    }

    #[test]
    fn epoch_day_zero_is_1970_01_01() {
        let mut out = Vec::new();
        write_date(&mut out, &NaiveDate::from_ymd_opt(1970, 1, 1).unwrap());
        assert_eq!(out, [0]);
    }

    #[test]
    fn a_time_past_midnight_is_an_error() {
        let mut out = Vec::new();
        write_int(&mut out, 86_400_000);
        assert!(Reader::new(&out).time_millis("t").is_err());
    }

    #[test]
    fn uuids_are_lowercase_hyphenated_strings() {
        let u = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        let mut out = Vec::new();
        write_uuid(&mut out, &u);
        assert_eq!(&out[1..], b"01234567-89ab-cdef-0123-456789abcdef");
        assert_eq!(Reader::new(&out).uuid("u").unwrap(), u);
    }
}
