//! `jam` and `cue`: the bit format of `nockchain-node.md` §4.2, with explicit stacks.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

use super::{big_bit_len, Noun, Repr};
use crate::CoreError;

/// A hasher for keys that already are well-mixed 64-bit hashes (noun mugs, bit offsets run
/// through [`super::mix`]): it keeps the last `u64` written.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = super::mix(self.0 ^ b as u64);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<PassThrough>>;

/// A growing bit string, least significant bit first.
struct BitWriter {
    words: Vec<u64>,
    len: u64,
}

impl BitWriter {
    fn new() -> Self {
        BitWriter {
            words: Vec::new(),
            len: 0,
        }
    }

    /// Appends the low `n` bits of `value` (`n <= 64`).
    fn push_bits(&mut self, value: u64, n: u32) {
        if n == 0 {
            return;
        }
        let value = if n == 64 {
            value
        } else {
            value & ((1u64 << n) - 1)
        };
        let offset = (self.len % 64) as u32;
        if offset == 0 {
            self.words.push(value);
        } else {
            if let Some(last) = self.words.last_mut() {
                *last |= value << offset;
            }
            if offset + n > 64 {
                self.words.push(value >> (64 - offset));
            }
        }
        self.len += n as u64;
    }

    fn push_zeros(&mut self, mut n: u64) {
        while n > 0 {
            let step = n.min(64) as u32;
            self.push_bits(0, step);
            n -= step as u64;
        }
    }

    /// `mat`: a length-prefixed atom given as its minimal little-endian bytes (or a u64).
    fn mat(&mut self, atom: AtomBits<'_>) {
        let b = atom.bit_len();
        if b == 0 {
            self.push_bits(1, 1);
            return;
        }
        let c = 64 - b.leading_zeros();
        self.push_zeros(c as u64);
        self.push_bits(1, 1);
        self.push_bits(b, c - 1);
        match atom {
            AtomBits::Word(v) => self.push_bits(v, b as u32),
            AtomBits::Bytes(bytes) => {
                let mut left = b;
                for &byte in bytes {
                    let n = left.min(8) as u32;
                    self.push_bits(byte as u64, n);
                    left -= n as u64;
                }
            }
        }
    }

    fn into_bytes(self) -> Vec<u8> {
        let n_bytes = self.len.div_ceil(8) as usize;
        let mut out: Vec<u8> = self.words.iter().flat_map(|w| w.to_le_bytes()).collect();
        out.truncate(n_bytes);
        out
    }
}

#[derive(Clone, Copy)]
enum AtomBits<'a> {
    Word(u64),
    Bytes(&'a [u8]),
}

impl AtomBits<'_> {
    fn bit_len(&self) -> u64 {
        match self {
            AtomBits::Word(v) => 64 - v.leading_zeros() as u64,
            AtomBits::Bytes(bytes) => big_bit_len(bytes),
        }
    }
}

/// Serializes a noun with Nockchain's `jam`: canonical bytes, the same backreferences
/// Nockchain's own jam chooses, exactly `ceil(bits / 8)` bytes long.
pub fn jam(noun: &Noun) -> Vec<u8> {
    let mut out = BitWriter::new();
    let mut seen: FastMap<&Noun, u64> = FastMap::default();
    let mut pending: Vec<&Noun> = vec![noun];
    while let Some(n) = pending.pop() {
        if let Some(&offset) = seen.get(n) {
            let offset_bits = 64 - offset.leading_zeros() as u64;
            match &n.0 {
                Repr::Cell(_) => {
                    out.push_bits(0b11, 2);
                    out.mat(AtomBits::Word(offset));
                }
                Repr::Small(v) => {
                    if offset_bits < 64 - v.leading_zeros() as u64 {
                        out.push_bits(0b11, 2);
                        out.mat(AtomBits::Word(offset));
                    } else {
                        out.push_bits(0, 1);
                        out.mat(AtomBits::Word(*v));
                    }
                }
                Repr::Big(big) => {
                    // A big atom has more than 64 bits, so any offset is shorter.
                    let _ = big;
                    out.push_bits(0b11, 2);
                    out.mat(AtomBits::Word(offset));
                }
            }
            continue;
        }
        seen.insert(n, out.len);
        match &n.0 {
            Repr::Small(v) => {
                out.push_bits(0, 1);
                out.mat(AtomBits::Word(*v));
            }
            Repr::Big(big) => {
                out.push_bits(0, 1);
                out.mat(AtomBits::Bytes(&big.bytes));
            }
            Repr::Cell(cell) => {
                // Tag bits 1 then 0, written LSB first.
                out.push_bits(0b01, 2);
                pending.push(&cell.tail);
                pending.push(&cell.head);
            }
        }
    }
    out.into_bytes()
}

/// Why a jam could not be decoded (the `reason` of [`CoreError::BadJam`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CueFailure {
    /// The input is empty.
    Empty,
    /// The input ended in the middle of a noun.
    Truncated,
    /// A backreference names an offset where no complete noun started (includes cycles: a
    /// reference to a cell that is still being decoded).
    BadBackref,
    /// A backreference offset has more than 64 bits.
    BackrefTooBig,
    /// A length prefix claims more than 2^64 bits.
    LengthTooBig,
    /// The input is longer than [`CueLimits::max_bytes`].
    TooLarge,
    /// Cells nest deeper than [`CueLimits::max_depth`].
    TooDeep,
}

impl fmt::Display for CueFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CueFailure::Empty => "the input is empty",
            CueFailure::Truncated => "the input ends in the middle of a noun",
            CueFailure::BadBackref => "a backreference points to no complete noun",
            CueFailure::BackrefTooBig => "a backreference offset has more than 64 bits",
            CueFailure::LengthTooBig => "a length prefix is impossibly large",
            CueFailure::TooLarge => "the input exceeds the size limit",
            CueFailure::TooDeep => "cells nest deeper than the depth limit",
        })
    }
}

/// Bounds on what [`cue_with_limits`] accepts. The defaults fit every noun Nockchain sends a
/// pool (blocks, proofs, effects) with a wide margin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CueLimits {
    /// Longest input in bytes (default 64 MiB).
    pub max_bytes: usize,
    /// Deepest nesting of cells, counting heads and tails (default 4,194,304; long lists nest
    /// one level per item).
    pub max_depth: usize,
}

impl Default for CueLimits {
    fn default() -> Self {
        CueLimits {
            max_bytes: 64 << 20,
            max_depth: 1 << 22,
        }
    }
}

struct BitReader<'a> {
    bytes: &'a [u8],
    pos: u64,
    end: u64,
}

impl BitReader<'_> {
    fn fail(&self, reason: CueFailure) -> CoreError {
        CoreError::BadJam {
            bit: self.pos,
            reason,
        }
    }

    fn bit(&mut self) -> Result<bool, CoreError> {
        if self.pos >= self.end {
            return Err(self.fail(CueFailure::Truncated));
        }
        let byte = self.bytes[(self.pos / 8) as usize];
        let bit = (byte >> (self.pos % 8)) & 1 == 1;
        self.pos += 1;
        Ok(bit)
    }

    /// Reads `n <= 64` bits as a number (first bit least significant).
    fn bits(&mut self, n: u32) -> Result<u64, CoreError> {
        if self.end - self.pos < n as u64 {
            self.pos = self.end;
            return Err(self.fail(CueFailure::Truncated));
        }
        if n == 0 {
            return Ok(0);
        }
        let value = self.window() & (u64::MAX >> (64 - n));
        self.pos += n as u64;
        Ok(value)
    }

    /// The (up to) 64 bits starting at the cursor, zero past the end of the input.
    fn window(&self) -> u64 {
        let first = (self.pos / 8) as usize;
        let last = (first + 9).min(self.bytes.len());
        let mut buf = [0u8; 16];
        buf[..last - first].copy_from_slice(&self.bytes[first..last]);
        (u128::from_le_bytes(buf) >> (self.pos % 8)) as u64
    }

    /// `rub`'s length part: the number of bits of the value that follows.
    fn length(&mut self) -> Result<u64, CoreError> {
        let mut zeros = 0u32;
        loop {
            let left = self.end - self.pos;
            if left == 0 {
                return Err(self.fail(CueFailure::Truncated));
            }
            let window = self.window();
            let available = left.min(64) as u32;
            let run = window.trailing_zeros().min(available);
            zeros += run;
            self.pos += run as u64;
            if zeros > 64 {
                return Err(self.fail(CueFailure::LengthTooBig));
            }
            if run < available {
                self.pos += 1; // the terminating 1 bit
                break;
            }
        }
        if zeros == 0 {
            return Ok(0);
        }
        let low = self.bits(zeros - 1)?;
        Ok(low | 1u64.checked_shl(zeros - 1).unwrap_or(0))
    }

    /// `rub`: a length-prefixed atom.
    fn atom(&mut self) -> Result<Noun, CoreError> {
        let len = self.length()?;
        if len <= 64 {
            return Ok(Noun::atom(self.bits(len as u32)?));
        }
        if self.end - self.pos < len {
            self.pos = self.end;
            return Err(self.fail(CueFailure::Truncated));
        }
        let mut bytes = vec![0u8; len.div_ceil(8) as usize];
        let mut left = len;
        for byte in bytes.iter_mut() {
            let n = left.min(8) as u32;
            *byte = self.bits(n)? as u8;
            left -= n as u64;
        }
        Ok(Noun::from_le_bytes(&bytes))
    }

    /// `rub` for a backreference offset, which must fit in 64 bits.
    fn offset(&mut self) -> Result<u64, CoreError> {
        let len = self.length()?;
        if len > 64 {
            return Err(self.fail(CueFailure::BackrefTooBig));
        }
        self.bits(len as u32)
    }
}

/// Deserializes a jammed noun with the default [`CueLimits`].
///
/// Trailing bits after the noun (e.g. zero padding to whole words) are ignored. Malformed,
/// truncated, cyclic, oversized or too deeply nested input is an error, never a panic.
pub fn cue(bytes: &[u8]) -> Result<Noun, CoreError> {
    cue_with_limits(bytes, &CueLimits::default())
}

/// Deserializes a jammed noun within explicit limits (see [`cue`]).
pub fn cue_with_limits(bytes: &[u8], limits: &CueLimits) -> Result<Noun, CoreError> {
    if bytes.is_empty() {
        return Err(CoreError::BadJam {
            bit: 0,
            reason: CueFailure::Empty,
        });
    }
    if bytes.len() > limits.max_bytes {
        return Err(CoreError::BadJam {
            bit: 0,
            reason: CueFailure::TooLarge,
        });
    }
    enum Frame {
        /// A cell whose head is being decoded.
        Head { offset: u64 },
        /// A cell whose tail is being decoded.
        Tail { offset: u64, head: Noun },
    }
    let mut reader = BitReader {
        bytes,
        pos: 0,
        end: bytes.len() as u64 * 8,
    };
    let mut decoded: FastMap<OffsetKey, Noun> = FastMap::default();
    let mut frames: Vec<Frame> = Vec::new();
    loop {
        let start = reader.pos;
        let mut value = if !reader.bit()? {
            let atom = reader.atom()?;
            decoded.insert(OffsetKey(start), atom.clone());
            atom
        } else if !reader.bit()? {
            if frames.len() >= limits.max_depth {
                return Err(reader.fail(CueFailure::TooDeep));
            }
            frames.push(Frame::Head { offset: start });
            continue;
        } else {
            let target = reader.offset()?;
            match decoded.get(&OffsetKey(target)) {
                Some(noun) => noun.clone(),
                None => return Err(reader.fail(CueFailure::BadBackref)),
            }
        };
        loop {
            match frames.pop() {
                None => return Ok(value),
                Some(Frame::Head { offset }) => {
                    frames.push(Frame::Tail {
                        offset,
                        head: value,
                    });
                    break;
                }
                Some(Frame::Tail { offset, head }) => {
                    let cell = Noun::cell(head, value);
                    decoded.insert(OffsetKey(offset), cell.clone());
                    value = cell;
                }
            }
        }
    }
}

/// A bit offset as a map key, hashed through the mixer (offsets themselves are not random).
#[derive(PartialEq, Eq)]
struct OffsetKey(u64);

impl std::hash::Hash for OffsetKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(super::mix(self.0));
    }
}

#[cfg(test)]
mod tests;
