//! Byte-level mutations, as coverage-guided fuzzers make them, minus the guidance: bit flips,
//! byte changes, inserts, deletes, duplicated ranges, splices of another corpus entry, tokens of
//! the input's language, and the integers decoders get wrong (as Avro zig-zag varints, as
//! Protobuf varints and as 4-byte big-endian numbers, the Confluent schema id's encoding).

use rand::Rng as _;
use rand::seq::IndexedRandom;

use crate::Rng;

/// Values at the edges of the ranges decoders check: lengths, counts, indexes.
pub const INTERESTING: &[i64] = &[
    0,
    1,
    -1,
    2,
    -2,
    7,
    8,
    16,
    63,
    64,
    -64,
    127,
    128,
    255,
    256,
    1 << 12,
    (1 << 16) - 1,
    1 << 16,
    1 << 20,
    (1 << 28) - 1,
    1 << 28,
    i32::MAX as i64,
    i32::MIN as i64,
    u32::MAX as i64,
    1 << 40,
    i64::MAX,
    i64::MIN,
    i64::MIN + 1,
];

/// Appends `v` as an Avro zig-zag varint.
pub fn zigzag(out: &mut Vec<u8>, v: i64) {
    varint(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// Appends `v` as a plain (Protobuf) varint.
pub fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Applies 1 to 8 random mutations to `buf`. `dict` holds tokens of the input's language
/// (empty for binary formats); `max_len` bounds the result.
pub fn mutate(rng: &mut Rng, buf: &mut Vec<u8>, corpus: &[Vec<u8>], dict: &[&str], max_len: usize) {
    let rounds = 1 + rng.random_range(0..8u32).min(rng.random_range(0..8u32));
    for _ in 0..rounds {
        mutate_once(rng, buf, corpus, dict);
    }
    buf.truncate(max_len);
}

fn pos(rng: &mut Rng, buf: &[u8]) -> usize {
    rng.random_range(0..=buf.len())
}

fn mutate_once(rng: &mut Rng, buf: &mut Vec<u8>, corpus: &[Vec<u8>], dict: &[&str]) {
    let choice = rng.random_range(0..if dict.is_empty() { 11 } else { 14 });
    match choice {
        // Flip one bit.
        0 if !buf.is_empty() => {
            let i = rng.random_range(0..buf.len());
            buf[i] ^= 1 << rng.random_range(0..8);
        }
        // Set one byte to anything, or to an edge value.
        1 if !buf.is_empty() => {
            let i = rng.random_range(0..buf.len());
            buf[i] = if rng.random_bool(0.5) {
                rng.random()
            } else {
                *[0u8, 1, 0x7f, 0x80, 0xff, b'"', b'\\', b'{', b'[']
                    .choose(rng)
                    .unwrap()
            };
        }
        // Insert random bytes.
        2 => {
            let at = pos(rng, buf);
            let n = rng.random_range(1..=16);
            let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
            buf.splice(at..at, bytes);
        }
        // Delete a range.
        3 if !buf.is_empty() => {
            let at = rng.random_range(0..buf.len());
            let n = rng.random_range(1..=(buf.len() - at).min(32));
            buf.drain(at..at + n);
        }
        // Duplicate a range, possibly many times (repetition is what blows up quadratic code).
        4 if !buf.is_empty() => {
            let at = rng.random_range(0..buf.len());
            let n = rng.random_range(1..=(buf.len() - at).min(64));
            let chunk = buf[at..at + n].to_vec();
            let times = if rng.random_bool(0.1) {
                rng.random_range(2..200)
            } else {
                1
            };
            let to = pos(rng, buf);
            let repeated: Vec<u8> = chunk.iter().copied().cycle().take(n * times).collect();
            buf.splice(to..to, repeated);
        }
        // Splice: the head of this input, the tail of another.
        5 if !corpus.is_empty() => {
            let other = corpus.choose(rng).unwrap();
            let at = pos(rng, buf);
            let from = rng.random_range(0..=other.len());
            buf.truncate(at);
            buf.extend_from_slice(&other[from..]);
        }
        // An interesting integer as a zig-zag varint, replacing what was there.
        6 => {
            let at = pos(rng, buf);
            let mut n = Vec::new();
            zigzag(&mut n, *INTERESTING.choose(rng).unwrap());
            let end = (at + rng.random_range(0..=n.len())).min(buf.len());
            buf.splice(at..end, n);
        }
        // ... as a plain varint.
        7 => {
            let at = pos(rng, buf);
            let mut n = Vec::new();
            varint(&mut n, *INTERESTING.choose(rng).unwrap() as u64);
            let end = (at + rng.random_range(0..=n.len())).min(buf.len());
            buf.splice(at..end, n);
        }
        // ... as 4 big-endian bytes.
        8 => {
            let at = pos(rng, buf);
            let n = (*INTERESTING.choose(rng).unwrap() as u32).to_be_bytes();
            let end = (at + 4).min(buf.len());
            buf.splice(at..end, n);
        }
        // Truncate.
        9 if !buf.is_empty() => {
            let at = rng.random_range(0..buf.len());
            buf.truncate(at);
        }
        // Swap two bytes.
        10 if buf.len() > 1 => {
            let a = rng.random_range(0..buf.len());
            let b = rng.random_range(0..buf.len());
            buf.swap(a, b);
        }
        // Insert a token of the language.
        11 | 12 => {
            let at = pos(rng, buf);
            let token = dict.choose(rng).unwrap().as_bytes();
            buf.splice(at..at, token.iter().copied());
        }
        // Insert a number in text.
        13 => {
            let at = pos(rng, buf);
            let text = INTERESTING.choose(rng).unwrap().to_string();
            buf.splice(at..at, text.into_bytes());
        }
        _ => {
            let at = pos(rng, buf);
            buf.insert(at, rng.random());
        }
    }
}
