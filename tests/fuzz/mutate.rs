//! Seeded mutations of valid inputs: bit flips, edge-case bytes and header counts, truncation,
//! inserted and deleted runs, splices of two inputs, duplicated chunks, and purely random bytes.

use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

/// Byte values on the edges of signed and unsigned ranges.
const EDGE_BYTES: [u8; 7] = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff, b'0'];
/// 32-bit values a header counts with: zero, one, 2^31 - 1, 2^31, 2^32 - 1, 2^16, 2^16 - 1.
const EDGE_U32: [u32; 7] = [
    0,
    1,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x0001_0000,
    0xffff,
];
/// Tokens that carry structure in the text formats (CSV, TSV, .ts, TOML, JSON) or overflow their
/// numbers.
const EDGE_TOKENS: [&str; 22] = [
    "\n",
    "\r\n",
    ",",
    "\t",
    ":",
    "\"",
    "?",
    "NaN",
    "-1",
    "0",
    "1e309",
    "18446744073709551616",
    "99999999999",
    "@data\n",
    "@seriesLength 4294967295\n",
    "[",
    "]",
    "{",
    "}",
    "=",
    "\u{feff}",
    "\u{e9}",
];
/// Mutated inputs stop growing here (or at their seed's length), so a case stays quick.
const MAX_LEN: usize = 256 << 10;
/// Most random inputs are about this long.
const RANDOM_LEN: usize = 4096;

/// The input for one case: random bytes now and then, otherwise one of `seeds` mutated a few times.
pub fn case_input(rng: &mut StdRng, seeds: &[Vec<u8>]) -> Vec<u8> {
    if seeds.is_empty() || rng.random_bool(0.05) {
        return random_bytes(rng);
    }
    let mut data = seeds[rng.random_range(0..seeds.len())].clone();
    let max_len = data.len().max(MAX_LEN);
    // Mostly one or two mutations, sometimes many: few keep the input close to valid, so the
    // reader gets past its first checks.
    let rounds = 1 + rng.random_range(0..4) * rng.random_range(0..4);
    for _ in 0..rounds {
        // JSON documents (tokenizers, checkpoint states) get most of their mutations one value
        // at a time, so the reader gets past the parser to what the values mean.
        if rng.random_bool(0.5)
            && let Some(mutated) = mutate_json(rng, &data)
        {
            data = mutated;
        } else {
            mutate(rng, &mut data, seeds);
        }
    }
    data.truncate(max_len);
    data
}

fn random_bytes(rng: &mut StdRng) -> Vec<u8> {
    let len = rng.random_range(0..=RANDOM_LEN);
    if rng.random_bool(0.5) {
        (0..len).map(|_| rng.random_range(0x20..0x7f)).collect()
    } else {
        (0..len).map(|_| rng.random()).collect()
    }
}

fn mutate(rng: &mut StdRng, data: &mut Vec<u8>, seeds: &[Vec<u8>]) {
    match rng.random_range(0..10) {
        0 => flip_bit(rng, data),
        1 => overwrite_byte(rng, data),
        2 => overwrite_u32(rng, data),
        3 => truncate(rng, data),
        4 => insert_run(rng, data),
        5 => delete_run(rng, data),
        6 => splice(rng, data, seeds),
        7 => duplicate_chunk(rng, data),
        _ => insert_token(rng, data),
    }
}

/// An offset into `data`, half the time within its first 64 bytes, where headers live.
fn offset(rng: &mut StdRng, len: usize) -> usize {
    if len == 0 {
        0
    } else if rng.random_bool(0.5) {
        rng.random_range(0..len.min(64))
    } else {
        rng.random_range(0..len)
    }
}

fn flip_bit(rng: &mut StdRng, data: &mut [u8]) {
    if !data.is_empty() {
        let i = offset(rng, data.len());
        data[i] ^= 1 << rng.random_range(0..8);
    }
}

fn overwrite_byte(rng: &mut StdRng, data: &mut [u8]) {
    if !data.is_empty() {
        let i = offset(rng, data.len());
        data[i] = if rng.random_bool(0.5) {
            EDGE_BYTES[rng.random_range(0..EDGE_BYTES.len())]
        } else {
            rng.random()
        };
    }
}

fn overwrite_u32(rng: &mut StdRng, data: &mut [u8]) {
    if data.len() < 4 {
        return;
    }
    let value = EDGE_U32[rng.random_range(0..EDGE_U32.len())];
    let bytes = if rng.random_bool(0.5) {
        value.to_be_bytes()
    } else {
        value.to_le_bytes()
    };
    let i = offset(rng, data.len() - 3);
    data[i..i + 4].copy_from_slice(&bytes);
}

fn truncate(rng: &mut StdRng, data: &mut Vec<u8>) {
    let len = rng.random_range(0..=data.len());
    data.truncate(len);
}

fn insert_run(rng: &mut StdRng, data: &mut Vec<u8>) {
    let at = rng.random_range(0..=data.len());
    let len = rng.random_range(1..=64);
    let run: Vec<u8> = if rng.random_bool(0.5) {
        vec![EDGE_BYTES[rng.random_range(0..EDGE_BYTES.len())]; len]
    } else {
        (0..len).map(|_| rng.random()).collect()
    };
    data.splice(at..at, run);
}

fn delete_run(rng: &mut StdRng, data: &mut Vec<u8>) {
    if data.is_empty() {
        return;
    }
    let start = rng.random_range(0..data.len());
    let end = (start + rng.random_range(1..=64)).min(data.len());
    data.drain(start..end);
}

/// The start of `data` joined to the end of another seed (or of itself).
fn splice(rng: &mut StdRng, data: &mut Vec<u8>, seeds: &[Vec<u8>]) {
    let other = &seeds[rng.random_range(0..seeds.len())];
    let cut = rng.random_range(0..=data.len());
    let from = rng.random_range(0..=other.len());
    data.truncate(cut);
    data.extend_from_slice(&other[from..]);
}

fn duplicate_chunk(rng: &mut StdRng, data: &mut Vec<u8>) {
    if data.is_empty() {
        return;
    }
    let start = rng.random_range(0..data.len());
    let end = (start + rng.random_range(1..=512)).min(data.len());
    let chunk = data[start..end].to_vec();
    let at = rng.random_range(0..=data.len());
    let copies = if rng.random_bool(0.1) { 32 } else { 1 };
    for _ in 0..copies {
        data.splice(at..at, chunk.iter().copied());
    }
}

fn insert_token(rng: &mut StdRng, data: &mut Vec<u8>) {
    let token = EDGE_TOKENS[rng.random_range(0..EDGE_TOKENS.len())].as_bytes();
    let at = rng.random_range(0..=data.len());
    if rng.random_bool(0.5) && at + token.len() <= data.len() {
        data[at..at + token.len()].copy_from_slice(token);
    } else {
        data.splice(at..at, token.iter().copied());
    }
}

/// JSON values on the edges of what a reader expects: zero, negative, 2^32 - 1 and 2^64 - 1
/// counts, huge and fractional numbers, empty, special and long strings, null, and empty
/// containers.
fn edge_json_value(rng: &mut StdRng) -> Value {
    match rng.random_range(0..14) {
        0 => json!(0),
        1 => json!(-1),
        2 => json!(u32::MAX),
        3 => json!(u64::MAX),
        4 => json!(1e300),
        5 => json!(0.5),
        6 => json!(""),
        7 => json!("[UNK]"),
        8 => json!("##"),
        9 => Value::Null,
        10 => json!(true),
        11 => json!([]),
        12 => json!({}),
        _ => json!("x".repeat(1000)),
    }
}

/// The `n`-th value of `doc` in depth-first order (counting down `n`), if it has that many.
fn nth_value<'a>(doc: &'a mut Value, n: &mut usize) -> Option<&'a mut Value> {
    if *n == 0 {
        return Some(doc);
    }
    *n -= 1;
    match doc {
        Value::Array(items) => items.iter_mut().find_map(|v| nth_value(v, n)),
        Value::Object(fields) => fields.values_mut().find_map(|v| nth_value(v, n)),
        _ => None,
    }
}

fn count_values(doc: &Value) -> usize {
    1 + match doc {
        Value::Array(items) => items.iter().map(count_values).sum(),
        Value::Object(fields) => fields.values().map(count_values).sum(),
        _ => 0,
    }
}

/// `data` with one value of its JSON replaced by an edge value, or one element of an array or
/// object dropped or (in an array) duplicated; `None` when `data` is not JSON.
fn mutate_json(rng: &mut StdRng, data: &[u8]) -> Option<Vec<u8>> {
    if !matches!(data.first(), Some(b'{' | b'[')) {
        return None;
    }
    let mut doc: Value = serde_json::from_slice(data).ok()?;
    let mut n = rng.random_range(0..count_values(&doc));
    let value = nth_value(&mut doc, &mut n)?;
    match value {
        Value::Array(items) if !items.is_empty() && rng.random_bool(0.4) => {
            let i = rng.random_range(0..items.len());
            if rng.random_bool(0.5) {
                items.remove(i);
            } else {
                items.insert(i, items[i].clone());
            }
        }
        Value::Object(fields) if !fields.is_empty() && rng.random_bool(0.4) => {
            let i = rng.random_range(0..fields.len());
            if let Some(key) = fields.keys().nth(i).cloned() {
                fields.remove(&key);
            }
        }
        _ => *value = edge_json_value(rng),
    }
    serde_json::to_vec(&doc).ok()
}
