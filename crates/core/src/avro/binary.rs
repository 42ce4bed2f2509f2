//! Avro's binary encoding: the primitives generated codecs and the generic resolver are built
//! from.
//!
//! Writers append to a caller-owned `Vec<u8>` (reused across records, so a warm encode does not
//! allocate). [`Reader`] is a cursor over a payload; every read takes the field path it reads
//! for, a `&'static str` that is only turned into a `String` when the read fails, so errors say
//! where (byte offset and field path) at no cost on the success path.

use crate::DecodeError;

/// What reads return: the error is boxed so that a result stays two words and travels in
/// registers; that is measurably faster on the success path than a by-value `DecodeError`.
/// `?` turns it into a [`DecodeError`] where one is expected.
pub type ReadResult<T> = Result<T, Box<DecodeError>>;

impl From<Box<DecodeError>> for DecodeError {
    fn from(e: Box<DecodeError>) -> Self {
        *e
    }
}

/// Appends a `long`: zigzag, then base-128 varint, low groups first.
#[inline]
pub fn write_long(out: &mut Vec<u8>, v: i64) {
    let n = ((v << 1) ^ (v >> 63)) as u64;
    // Most longs in events (lengths, small counts, indexes) take one byte.
    if n < 0x80 {
        out.push(n as u8);
    } else {
        write_varint_long(out, n);
    }
}

#[inline(never)]
fn write_varint_long(out: &mut Vec<u8>, mut n: u64) {
    // Pushing byte by byte after one reservation is cheaper than a memcpy call for <= 10 bytes.
    out.reserve(10);
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Appends an `int` (encoded as a `long`).
#[inline]
pub fn write_int(out: &mut Vec<u8>, v: i32) {
    write_long(out, i64::from(v));
}

#[inline]
pub fn write_bool(out: &mut Vec<u8>, v: bool) {
    out.push(u8::from(v));
}

#[inline]
pub fn write_float(out: &mut Vec<u8>, v: f32) {
    out.extend_from_slice(&v.to_le_bytes());
}

#[inline]
pub fn write_double(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Appends `bytes`: the length as a `long`, then the bytes.
#[inline]
pub fn write_bytes(out: &mut Vec<u8>, v: &[u8]) {
    write_long(out, v.len() as i64);
    out.extend_from_slice(v);
}

/// Appends a `string`: encoded as `bytes` holding UTF-8.
#[inline]
pub fn write_str(out: &mut Vec<u8>, v: &str) {
    write_bytes(out, v.as_bytes());
}

/// Appends a `fixed`: the bytes, no length.
#[inline]
pub fn write_fixed(out: &mut Vec<u8>, v: &[u8]) {
    out.extend_from_slice(v);
}

/// Appends the count that starts an array or map block. Zero items write nothing here: the
/// caller ends every array and map with [`write_block_end`].
#[inline]
pub fn write_block_start(out: &mut Vec<u8>, count: usize) {
    if count > 0 {
        write_long(out, count as i64);
    }
}

/// Appends the zero count that ends an array or map.
#[inline]
pub fn write_block_end(out: &mut Vec<u8>) {
    out.push(0);
}

/// A cursor over an Avro payload.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Records being read inside each other, for [`Reader::nested`].
    depth: u32,
    /// Array and map items the rest of the payload may still claim; see [`item_budget`].
    items_left: usize,
}

/// The array and map items a payload of `len` bytes may claim in all, summed over every block
/// of every array and map in it, nested ones included: one per byte, and never less than
/// [`MIN_ITEM_BUDGET`].
///
/// Why: a block count is checked before any item is read, but items of zero size (`null`, a
/// record with no fields or only such fields, `fixed` of size 0) take no bytes, so the bytes
/// left cannot bound the count by themselves. Unchecked, a 1 MB payload could claim 2^28 nulls
/// per block in hundreds of thousands of blocks, and the decoder would loop per item for hours.
/// Charging every claimed item one byte of the payload makes the items read, and so the work
/// and memory of a decode, grow at most linearly with the payload's length.
///
/// What it rejects: every item of a non-zero-size type takes at least one byte of its own (an
/// item holding an array holds at least that array's end marker), so payloads made of such
/// items always fit. Only payloads with more zero-size items than bytes are refused (beyond
/// the first [`MIN_ITEM_BUDGET`]), such as an array of a million nulls written in four bytes:
/// legal Avro, but absurd for an event, and indistinguishable from an attack.
pub fn item_budget(len: usize) -> usize {
    len.max(MIN_ITEM_BUDGET)
}

/// The items any payload may claim whatever its length, so small arrays of nulls or empty
/// records still read. 65,536 iterations cost well under a millisecond.
pub const MIN_ITEM_BUDGET: usize = 1 << 16;

/// The most items one block reserves memory for up front; larger blocks grow as their items
/// are actually read, so a lying count cannot make a decode allocate more than its bytes
/// justify (an item can be far larger in memory than its one byte on the wire).
pub const MAX_PREALLOCATED_ITEMS: usize = 1 << 12;

/// How deeply records may nest in one payload. Only recursive schemas nest without bound;
/// a hostile payload for one must not overflow the stack. Decoders run on the services' async
/// worker threads, whose stacks are 2 MiB: in a debug build the resolver takes about 10 KiB of
/// stack per level of a recursive record, so 200 levels overflowed such a stack (found by
/// fuzzing); 128 levels leave it most of its room.
pub const MAX_NESTING: u32 = 128;

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            depth: 0,
            items_left: item_budget(buf.len()),
        }
    }

    /// A reader whose payload may claim `items` array and map items in all, instead of
    /// [`item_budget`] of its own length: for a payload rewritten from another (the generic
    /// resolver's output), which holds the same items as the original in possibly fewer bytes.
    pub fn with_item_budget(buf: &'a [u8], items: usize) -> Self {
        Reader {
            items_left: items,
            ..Reader::new(buf)
        }
    }

    /// Runs `read` one nesting level deeper; fails past [`MAX_NESTING`] levels. Generated
    /// code calls it around records that can contain themselves.
    #[inline]
    pub fn nested<T>(
        &mut self,
        path: &str,
        read: impl FnOnce(&mut Self) -> ReadResult<T>,
    ) -> ReadResult<T> {
        if self.depth >= MAX_NESTING {
            return Err(self.invalid(
                path,
                format!("records nested deeper than {MAX_NESTING} levels"),
            ));
        }
        self.depth += 1;
        let v = read(self);
        self.depth -= 1;
        v
    }

    /// The byte offset of the next read.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Fails unless every byte was read: a payload holds exactly one value.
    pub fn finish(&self) -> ReadResult<()> {
        match self.remaining() {
            0 => Ok(()),
            remaining => Err(Box::new(DecodeError::TrailingBytes { remaining })),
        }
    }

    /// A truncation error at the current position.
    #[cold]
    pub fn truncated(&self, path: &str) -> Box<DecodeError> {
        Box::new(DecodeError::Truncated {
            offset: self.pos,
            path: path.to_string(),
        })
    }

    /// An invalid-data error at `offset`.
    #[cold]
    pub fn invalid_at(offset: usize, path: &str, reason: impl Into<String>) -> Box<DecodeError> {
        Box::new(DecodeError::Invalid {
            offset,
            path: path.to_string(),
            reason: reason.into(),
        })
    }

    /// An invalid-data error at the current position.
    #[cold]
    pub fn invalid(&self, path: &str, reason: impl Into<String>) -> Box<DecodeError> {
        Self::invalid_at(self.pos, path, reason)
    }

    #[inline(always)]
    pub fn long(&mut self, path: &str) -> ReadResult<i64> {
        // Fast path: one-byte values (small ints, lengths, union and enum indexes).
        if let Some(&b) = self.buf.get(self.pos)
            && b < 0x80
        {
            self.pos += 1;
            let n = u64::from(b);
            return Ok(((n >> 1) as i64) ^ -((n & 1) as i64));
        }
        self.long_slow(path)
    }

    fn long_slow(&mut self, path: &str) -> ReadResult<i64> {
        let start = self.pos;
        let mut n: u64 = 0;
        let mut shift = 0u32;
        loop {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(self.truncated(path));
            };
            self.pos += 1;
            if shift == 63 && b > 1 {
                return Err(Self::invalid_at(start, path, "varint longer than 64 bits"));
            }
            n |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                break;
            }
            shift += 7;
            if shift > 63 {
                return Err(Self::invalid_at(start, path, "varint longer than 10 bytes"));
            }
        }
        Ok(((n >> 1) as i64) ^ -((n & 1) as i64))
    }

    #[inline(always)]
    pub fn int(&mut self, path: &str) -> ReadResult<i32> {
        let start = self.pos;
        let v = self.long(path)?;
        i32::try_from(v)
            .map_err(|_| Self::invalid_at(start, path, format!("{v} does not fit in an int")))
    }

    #[inline]
    pub fn bool(&mut self, path: &str) -> ReadResult<bool> {
        match self.buf.get(self.pos) {
            Some(0) => {
                self.pos += 1;
                Ok(false)
            }
            Some(1) => {
                self.pos += 1;
                Ok(true)
            }
            Some(b) => Err(self.invalid(path, format!("boolean byte {b:#04x} is neither 0 nor 1"))),
            None => Err(self.truncated(path)),
        }
    }

    #[inline]
    pub fn float(&mut self, path: &str) -> ReadResult<f32> {
        Ok(f32::from_le_bytes(self.array::<4>(path)?))
    }

    #[inline]
    pub fn double(&mut self, path: &str) -> ReadResult<f64> {
        Ok(f64::from_le_bytes(self.array::<8>(path)?))
    }

    /// Reads `N` raw bytes (a `fixed` of size `N`).
    #[inline]
    pub fn array<const N: usize>(&mut self, path: &str) -> ReadResult<[u8; N]> {
        match self.buf.get(self.pos..self.pos + N) {
            Some(s) => {
                self.pos += N;
                let mut a = [0u8; N];
                a.copy_from_slice(s);
                Ok(a)
            }
            None => Err(self.truncated(path)),
        }
    }

    /// Reads `n` raw bytes.
    #[inline(always)]
    pub fn raw(&mut self, n: usize, path: &str) -> ReadResult<&'a [u8]> {
        match self.buf.get(self.pos..self.pos.saturating_add(n)) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => Err(self.truncated(path)),
        }
    }

    /// Reads a length-prefixed `bytes` value, borrowed from the payload.
    #[inline(always)]
    pub fn bytes(&mut self, path: &str) -> ReadResult<&'a [u8]> {
        let start = self.pos;
        let len = self.long(path)?;
        let Ok(len) = usize::try_from(len) else {
            return Err(Self::invalid_at(
                start,
                path,
                format!("negative length {len}"),
            ));
        };
        self.raw(len, path)
    }

    /// Reads a `string`, borrowed from the payload.
    #[inline(always)]
    pub fn str(&mut self, path: &str) -> ReadResult<&'a str> {
        let start = self.pos;
        let b = self.bytes(path)?;
        std::str::from_utf8(b)
            .map_err(|e| Self::invalid_at(start, path, format!("string is not UTF-8: {e}")))
    }

    #[inline(always)]
    pub fn string(&mut self, path: &str) -> ReadResult<String> {
        self.str(path).map(str::to_owned)
    }

    #[inline]
    pub fn byte_vec(&mut self, path: &str) -> ReadResult<Vec<u8>> {
        self.bytes(path).map(<[u8]>::to_vec)
    }

    /// Reads a union branch or enum symbol index and checks it is below `count`.
    #[inline(always)]
    pub fn index(&mut self, count: usize, path: &str) -> ReadResult<usize> {
        let start = self.pos;
        let v = self.long(path)?;
        match usize::try_from(v) {
            Ok(i) if i < count => Ok(i),
            _ => Err(Self::invalid_at(
                start,
                path,
                format!("index {v} is out of range (0..{count})"),
            )),
        }
    }

    /// Reads the item count of the next array or map block; 0 ends the array or map. A
    /// negative count (followed by the block's byte size, for skipping) is returned positive.
    /// A count beyond what the rest of the payload can hold (see [`item_budget`]) fails here,
    /// before the caller loops over any item.
    #[inline(always)]
    pub fn block(&mut self, path: &str) -> ReadResult<usize> {
        let start = self.pos;
        let n = self.long(path)?;
        if n >= 0 {
            return self.count(start, n as u64, path);
        }
        self.block_size(path)?;
        self.count(start, n.unsigned_abs(), path)
    }

    /// Reads the byte size that follows a negative block count; it must fit the bytes left.
    fn block_size(&mut self, path: &str) -> ReadResult<usize> {
        let size_at = self.pos;
        let size = self.long(path)?;
        match usize::try_from(size) {
            Ok(size) if size <= self.remaining() => Ok(size),
            Ok(size) => Err(Self::invalid_at(
                size_at,
                path,
                format!(
                    "block byte size {size} is more than the {} bytes left",
                    self.remaining()
                ),
            )),
            Err(_) => Err(Self::invalid_at(
                size_at,
                path,
                format!("negative block size {size}"),
            )),
        }
    }

    /// Reads the next block's item count, or, for a block with a byte size, skips it whole and
    /// returns `Skipped`.
    pub fn skip_block(&mut self, path: &str) -> ReadResult<Block> {
        let start = self.pos;
        let n = self.long(path)?;
        if n >= 0 {
            return Ok(match self.count(start, n as u64, path)? {
                0 => Block::End,
                n => Block::Items(n),
            });
        }
        // Skipped whole: its items are never looped over, so they are not charged.
        let size = self.block_size(path)?;
        self.raw(size, path)?;
        Ok(Block::Skipped)
    }

    /// Checks a block's item count against the payload's item budget and charges it.
    fn count(&mut self, start: usize, n: u64, path: &str) -> ReadResult<usize> {
        match usize::try_from(n) {
            Ok(n) if n <= MAX_BLOCK_ITEMS && n <= self.items_left => {
                self.items_left -= n;
                Ok(n)
            }
            _ => Err(Self::invalid_at(
                start,
                path,
                format!(
                    "block count {n} is more than the rest of the payload can hold: {} more array or map items at most (a payload of {} bytes holds at most {} in all)",
                    self.items_left,
                    self.buf.len(),
                    item_budget(self.buf.len()),
                ),
            )),
        }
    }

    /// How much capacity to reserve for a block of `n` items: never more than the remaining
    /// bytes could hold, nor more than [`MAX_PREALLOCATED_ITEMS`], so a lying count cannot
    /// make us allocate.
    #[inline]
    pub fn capacity_for(&self, n: usize) -> usize {
        n.min(self.remaining()).min(MAX_PREALLOCATED_ITEMS)
    }
}

/// Largest item count one array or map block may claim, whatever the payload's length.
pub const MAX_BLOCK_ITEMS: usize = 1 << 28;

/// What [`Reader::skip_block`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Block {
    /// The end of the array or map.
    End,
    /// A block of this many items follows.
    Items(usize),
    /// A block with a byte size, skipped without reading its items.
    Skipped,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn long_bytes(v: i64) -> Vec<u8> {
        let mut out = Vec::new();
        write_long(&mut out, v);
        out
    }

    #[test]
    fn longs_use_the_spec_zigzag_varints() {
        // Examples from the Avro specification.
        assert_eq!(long_bytes(0), [0x00]);
        assert_eq!(long_bytes(-1), [0x01]);
        assert_eq!(long_bytes(1), [0x02]);
        assert_eq!(long_bytes(-2), [0x03]);
        assert_eq!(long_bytes(2), [0x04]);
        assert_eq!(long_bytes(-64), [0x7f]);
        assert_eq!(long_bytes(64), [0x80, 0x01]);
    }

    #[test]
    fn longs_round_trip_at_the_extremes() {
        for v in [
            i64::MIN,
            i64::MIN + 1,
            -1,
            0,
            1,
            i64::MAX - 1,
            i64::MAX,
            1 << 35,
        ] {
            let bytes = long_bytes(v);
            let mut r = Reader::new(&bytes);
            assert_eq!(r.long("x").unwrap(), v);
            r.finish().unwrap();
        }
    }

    #[test]
    fn a_truncated_varint_reports_offset_and_path() {
        let mut r = Reader::new(&[0x02, 0x80]);
        r.long("a").unwrap();
        let err = r.long("Order.quantity").unwrap_err();
        assert_eq!(
            *err,
            DecodeError::Truncated {
                offset: 2,
                path: "Order.quantity".into()
            }
        );
    }

    #[test]
    fn an_overlong_varint_is_invalid_not_a_panic() {
        let bytes = [0xffu8; 11];
        let err = Reader::new(&bytes).long("f").unwrap_err();
        assert!(
            matches!(*err, DecodeError::Invalid { offset: 0, .. }),
            "{err}"
        );
    }

    #[test]
    fn an_int_out_of_range_is_invalid() {
        let bytes = long_bytes(i64::from(i32::MAX) + 1);
        let err = Reader::new(&bytes).int("R.n").unwrap_err();
        assert!(err.to_string().contains("R.n"), "{err}");
    }

    #[test]
    fn strings_must_be_utf8_and_fit_the_payload() {
        let mut r = Reader::new(&[0x04, 0xff, 0xfe]);
        assert!(matches!(
            r.str("s").map_err(|e| *e),
            Err(DecodeError::Invalid { offset: 0, .. })
        ));
        let mut r = Reader::new(&[0x08, b'a']);
        assert!(matches!(
            r.str("s").map_err(|e| *e),
            Err(DecodeError::Truncated { .. })
        ));
        let mut r = Reader::new(&[0x01]);
        assert!(matches!(
            r.bytes("s").map_err(|e| *e),
            Err(DecodeError::Invalid { .. })
        ));
    }

    #[test]
    fn booleans_other_than_0_and_1_are_invalid() {
        assert!(Reader::new(&[2]).bool("b").is_err());
        assert!(Reader::new(&[1]).bool("b").unwrap());
    }

    #[test]
    fn union_indexes_are_range_checked() {
        assert_eq!(Reader::new(&[0x02]).index(2, "u").unwrap(), 1);
        assert!(Reader::new(&[0x04]).index(2, "u").is_err());
        assert!(Reader::new(&[0x01]).index(2, "u").is_err());
    }

    #[test]
    fn blocks_with_byte_sizes_are_read_and_skipped() {
        // -2 items, 4 bytes, then the items, then end.
        let bytes = [0x03, 0x08, 0x02, b'a', 0x02, b'b', 0x00];
        let mut r = Reader::new(&bytes);
        assert_eq!(r.block("a").unwrap(), 2);
        let mut r = Reader::new(&bytes);
        assert_eq!(r.skip_block("a").unwrap(), Block::Skipped);
        assert_eq!(r.skip_block("a").unwrap(), Block::End);
        r.finish().unwrap();
    }

    #[test]
    fn nesting_is_bounded() {
        fn dive(r: &mut Reader<'_>) -> ReadResult<u32> {
            r.nested("Node.next", |r| dive(r).map(|n| n + 1))
        }
        let err = dive(&mut Reader::new(&[])).unwrap_err();
        assert!(err.to_string().contains("nested deeper"), "{err}");
    }

    #[test]
    fn a_block_count_the_payload_cannot_hold_fails_before_any_item() {
        let bytes = long_bytes(1 << 28);
        let err = Reader::new(&bytes).block("R.items").unwrap_err();
        assert!(
            matches!(&*err, DecodeError::Invalid { offset: 0, path, reason }
                if path == "R.items" && reason.contains("block count 268435456")),
            "{err}"
        );
        // Past the per-block cap too, and for the largest count a varint can say.
        let bytes = long_bytes(i64::MAX);
        assert!(Reader::new(&bytes).block("a").is_err());
        let bytes = long_bytes(i64::MIN);
        assert!(Reader::new(&bytes).block("a").is_err());
    }

    #[test]
    fn item_counts_are_charged_against_one_budget_per_payload() {
        // Blocks of MIN_ITEM_BUDGET / 2 items each: the first two fit, the third does not,
        // though each alone is under the budget.
        let half = (MIN_ITEM_BUDGET / 2) as i64;
        let mut bytes = Vec::new();
        for _ in 0..3 {
            write_long(&mut bytes, half);
        }
        let mut r = Reader::new(&bytes);
        assert_eq!(r.block("a").unwrap(), half as usize);
        assert_eq!(r.block("a").unwrap(), half as usize);
        let at = r.position();
        let err = r.block("a").unwrap_err();
        assert!(
            matches!(*err, DecodeError::Invalid { offset, .. } if offset == at),
            "{err}"
        );
        // A payload longer than the minimum gets one item per byte.
        let mut big = long_bytes(100_000);
        big.resize(100_000, 0);
        assert_eq!(Reader::new(&big).block("a").unwrap(), 100_000);
        let mut short = long_bytes(100_000);
        short.resize(99_999, 0);
        assert!(Reader::new(&short).block("a").is_err());
    }

    #[test]
    fn a_negative_block_count_checks_its_byte_size() {
        // -(2^28) items in 4 bytes that are not there.
        let mut bytes = long_bytes(-(1 << 28));
        write_long(&mut bytes, 4);
        let err = Reader::new(&bytes).block("m").unwrap_err();
        assert!(err.to_string().contains("block byte size 4"), "{err}");
        let err = Reader::new(&bytes).skip_block("m").unwrap_err();
        assert!(err.to_string().contains("block byte size 4"), "{err}");
        // A negative size.
        let mut bytes = long_bytes(-2);
        write_long(&mut bytes, -5);
        let err = Reader::new(&bytes).block("m").unwrap_err();
        assert!(err.to_string().contains("negative block size"), "{err}");
        // A huge count with a plausible size is still charged when read item by item.
        let mut bytes = long_bytes(-(1 << 20));
        write_long(&mut bytes, 0);
        assert!(Reader::new(&bytes).block("m").is_err());
        assert_eq!(Reader::new(&bytes).skip_block("m").unwrap(), Block::Skipped);
    }

    #[test]
    fn preallocation_is_bounded_by_the_bytes_left_and_a_constant() {
        let mut bytes = long_bytes(1000);
        bytes.extend_from_slice(&[0; 10]);
        let mut r = Reader::new(&bytes);
        let n = r.block("a").unwrap();
        assert_eq!(r.capacity_for(n), 10);
        let big = vec![0; 1 << 20];
        assert_eq!(
            Reader::new(&big).capacity_for(1 << 20),
            MAX_PREALLOCATED_ITEMS
        );
    }

    #[test]
    fn trailing_bytes_are_reported() {
        let r = Reader::new(&[0]);
        assert_eq!(
            r.finish().map_err(|e| *e),
            Err(DecodeError::TrailingBytes { remaining: 1 })
        );
    }
}
