//! HyperLogLog registers: how an element raises one, how a set of them estimates a cardinality,
//! and the two byte forms they take (kvs's compact one in records, Redis's string on GET).
//!
//! The parameters and the hash are Redis's (16,384 six-bit registers, MurmurHash64A with Redis's
//! seed), so a kvs PFCOUNT and a redis-server PFCOUNT of the same elements agree exactly. The
//! estimator is Ertl's improved raw estimator ("New cardinality estimation algorithms for
//! HyperLogLog sketches", 2017), which Redis also uses since 5.0.
//!
//! Registers only ever rise, and two sketches of one set merge by taking each register's maximum:
//! the merge is commutative, associative and idempotent, which is what makes a HyperLogLog a
//! conflict-free replicated type with nothing to decide.

/// Bits of the hash that choose a register.
const P: u32 = 14;
/// Registers in a sketch.
pub const REGISTERS: usize = 1 << P;
/// Bits of the hash left to count leading zeros in.
const Q: u32 = 64 - P;
/// The largest value a register can hold.
pub const MAX_REGISTER: u8 = (Q + 1) as u8;

/// Bytes of one sparse register in a record: a little-endian index, then the value.
const PAIR_BYTES: usize = 3;

/// Bytes of Redis's string header: "HYLL", encoding, three unused bytes, the cached cardinality.
const REDIS_HEADER_BYTES: usize = 16;
/// Bytes of Redis's dense register array (six bits each).
const REDIS_DENSE_BYTES: usize = REGISTERS * 6 / 8;

/// The register `element` falls into and the value it offers it.
pub fn position(element: &[u8]) -> (usize, u8) {
    let hash = murmur64a(element, 0xadc8_3b19);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    // A sentinel bit past the Q bits bounds the count at Q + 1.
    let rest = (hash >> P) | (1 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

/// MurmurHash64A (Austin Appleby's, public domain), reading 8-byte blocks little-endian.
fn murmur64a(data: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (data.len() as u64).wrapping_mul(M);
    let mut blocks = data.chunks_exact(8);
    for block in &mut blocks {
        let mut k = u64::from_le_bytes(block.try_into().expect("8 bytes"));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        for (i, byte) in tail.iter().enumerate() {
            h ^= (*byte as u64) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// A whole sketch, one byte per register, for computing; records hold the compact form.
#[derive(Clone, PartialEq, Eq)]
pub struct Registers(Box<[u8; REGISTERS]>);

impl std::fmt::Debug for Registers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Registers({} set)", self.0.iter().filter(|r| **r != 0).count())
    }
}

impl Default for Registers {
    fn default() -> Self {
        Registers(Box::new([0; REGISTERS]))
    }
}

impl Registers {
    /// Raises register `index` to `value` if it is lower; whether it rose.
    pub fn raise(&mut self, index: usize, value: u8) -> bool {
        let register = &mut self.0[index];
        let rose = value > *register;
        *register = (*register).max(value);
        rose
    }

    /// Raises every register to `other`'s where that is higher (the merge of two sketches).
    pub fn merge(&mut self, other: &Registers) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0.iter()) {
            *mine = (*mine).max(*theirs);
        }
    }

    /// Every register that is not zero, with its index.
    pub fn set(&self) -> impl Iterator<Item = (usize, u8)> + '_ {
        self.0.iter().enumerate().filter(|(_, value)| **value != 0).map(|(index, value)| (index, *value))
    }

    /// The estimated number of distinct elements added (Ertl's improved raw estimator).
    pub fn count(&self) -> u64 {
        let mut histogram = [0u32; Q as usize + 2];
        for register in self.0.iter() {
            histogram[*register as usize] += 1;
        }
        let m = REGISTERS as f64;
        let mut z = m * tau((m - histogram[Q as usize + 1] as f64) / m);
        for count in histogram[1..=Q as usize].iter().rev() {
            z += *count as f64;
            z *= 0.5;
        }
        z += m * sigma(histogram[0] as f64 / m);
        let alpha_inf = 0.5 / std::f64::consts::LN_2;
        (alpha_inf * m * m / z).round() as u64
    }

    /// The registers in a record's compact form: index-value pairs while few are set, one byte per
    /// register beyond that (the two never share a length: 16,384 is not a multiple of 3).
    pub fn to_compact(&self) -> Vec<u8> {
        let set = self.set().count();
        if set * PAIR_BYTES < REGISTERS {
            let mut out = Vec::with_capacity(set * PAIR_BYTES);
            for (index, value) in self.set() {
                out.extend_from_slice(&(index as u16).to_le_bytes());
                out.push(value);
            }
            out
        } else {
            self.0.to_vec()
        }
    }

    /// Registers from the compact form, `None` if it is not one (bad length, order or value).
    pub fn from_compact(bytes: &[u8]) -> Option<Registers> {
        let mut registers = Registers::default();
        for (index, value) in compact_pairs(bytes)? {
            registers.0[index] = value;
        }
        Some(registers)
    }

    /// Redis's dense string for these registers, as GET returns it: a header with the cached
    /// cardinality (marked valid), then six bits per register, least significant first.
    pub fn to_redis_string(&self) -> Vec<u8> {
        let mut out = vec![0u8; REDIS_HEADER_BYTES + REDIS_DENSE_BYTES + 1];
        out[..4].copy_from_slice(b"HYLL");
        out[8..16].copy_from_slice(&self.count().to_le_bytes());
        let dense = &mut out[REDIS_HEADER_BYTES..];
        for (index, value) in self.set() {
            let (byte, shift) = (index * 6 / 8, index * 6 % 8);
            let bits = (value as u16) << shift;
            dense[byte] |= bits as u8;
            dense[byte + 1] |= (bits >> 8) as u8;
        }
        out.truncate(REDIS_HEADER_BYTES + REDIS_DENSE_BYTES);
        out
    }

    /// Registers from a Redis HyperLogLog string (dense or sparse), `None` if it is not a valid
    /// one: Redis refuses such a value with "not a valid HyperLogLog string".
    pub fn from_redis_string(bytes: &[u8]) -> Option<Registers> {
        if bytes.len() < REDIS_HEADER_BYTES || &bytes[..4] != b"HYLL" {
            return None;
        }
        let body = &bytes[REDIS_HEADER_BYTES..];
        let mut registers = Registers::default();
        match bytes[4] {
            0 if body.len() == REDIS_DENSE_BYTES => {
                for index in 0..REGISTERS {
                    let (byte, shift) = (index * 6 / 8, index * 6 % 8);
                    let next = body.get(byte + 1).copied().unwrap_or(0) as u16;
                    let bits = (body[byte] as u16 | next << 8) >> shift;
                    registers.0[index] = (bits & 63) as u8;
                }
                registers.0.iter().all(|r| *r <= MAX_REGISTER).then_some(registers)
            }
            1 => {
                let mut index = 0usize;
                let mut ops = body.iter();
                while let Some(op) = ops.next() {
                    let (run, value) = match op >> 6 {
                        0 => ((op & 63) as usize + 1, 0),
                        1 => ((((op & 63) as usize) << 8 | *ops.next()? as usize) + 1, 0),
                        _ => (((op & 3) as usize) + 1, ((op >> 2) & 31) + 1),
                    };
                    if index + run > REGISTERS {
                        return None;
                    }
                    registers.0[index..index + run].fill(value);
                    index += run;
                }
                (index == REGISTERS).then_some(registers)
            }
            _ => None,
        }
    }
}

/// The (index, value) pairs of a compact form, `None` if it is not one.
fn compact_pairs(bytes: &[u8]) -> Option<Box<dyn Iterator<Item = (usize, u8)> + '_>> {
    if bytes.len() == REGISTERS {
        if bytes.iter().any(|v| *v > MAX_REGISTER) {
            return None;
        }
        return Some(Box::new(bytes.iter().enumerate().filter(|(_, v)| **v != 0).map(|(i, v)| (i, *v))));
    }
    if !bytes.len().is_multiple_of(PAIR_BYTES) {
        return None;
    }
    let pairs = bytes.chunks_exact(PAIR_BYTES).map(|p| (u16::from_le_bytes([p[0], p[1]]) as usize, p[2]));
    let mut last = None;
    for (index, value) in pairs.clone() {
        if index >= REGISTERS || value == 0 || value > MAX_REGISTER || last.is_some_and(|l| l >= index) {
            return None;
        }
        last = Some(index);
    }
    Some(Box::new(pairs))
}

/// Whether `bytes` is a well-formed compact register form.
pub fn is_compact(bytes: &[u8]) -> bool {
    compact_pairs(bytes).is_some()
}

/// Ertl's σ(x) = x + Σ x^(2^k) 2^(k-1), summed until it stops changing.
fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let (mut y, mut z) = (1.0, x);
    loop {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if z == before {
            return z;
        }
    }
}

/// Ertl's τ(x) = (1 - x - Σ (1 - x^(2^-k))² 2^-k) / 3, summed until it stops changing.
fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let (mut y, mut z) = (1.0, 1.0 - x);
    loop {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        z -= (1.0 - x).powi(2) * y;
        if z == before {
            return z / 3.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sketch(elements: impl IntoIterator<Item = String>) -> Registers {
        let mut registers = Registers::default();
        for element in elements {
            let (index, value) = position(element.as_bytes());
            registers.raise(index, value);
        }
        registers
    }

    #[test]
    fn small_sets_count_exactly_and_large_ones_within_the_standard_error() {
        assert_eq!(Registers::default().count(), 0);
        assert_eq!(sketch((0..5).map(|i| i.to_string())).count(), 5);
        assert_eq!(sketch((0..10).map(|i| i.to_string())).count(), 10);
        for n in [1_000u64, 100_000] {
            let estimate = sketch((0..n).map(|i| format!("element:{i}"))).count() as f64;
            // 0.81% standard error; five of them is far outside chance.
            assert!((estimate - n as f64).abs() / (n as f64) < 0.05, "{n}: {estimate}");
        }
    }

    #[test]
    fn merging_is_the_sketch_of_the_union() {
        let a = sketch((0..500).map(|i| format!("{i}")));
        let b = sketch((250..800).map(|i| format!("{i}")));
        let mut union = a.clone();
        union.merge(&b);
        assert_eq!(union, sketch((0..800).map(|i| format!("{i}"))));
    }

    #[test]
    fn both_forms_round_trip() {
        for n in [0, 3, 2_000, 50_000] {
            let registers = sketch((0..n).map(|i| format!("x{i}")));
            let compact = registers.to_compact();
            assert!(is_compact(&compact));
            assert_eq!(Registers::from_compact(&compact).unwrap(), registers);
            let redis = registers.to_redis_string();
            assert_eq!(redis.len(), 12_304);
            assert_eq!(Registers::from_redis_string(&redis).unwrap(), registers);
        }
        assert!(Registers::from_redis_string(b"HYLL but not one").is_none());
        assert!(!is_compact(&[1, 0, 0]), "a zero register is never listed");
        assert!(!is_compact(&[2, 0, 1, 1, 0, 1]), "pairs are in index order");
    }

    #[test]
    fn a_redis_sparse_string_reads() {
        // XZERO of 16,383 registers, then VAL 3 for one register.
        let run = 16_383 - 1;
        let mut bytes = b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\0".to_vec();
        bytes.extend_from_slice(&[0x40 | (run >> 8) as u8, run as u8, 0x80 | (2 << 2)]);
        let registers = Registers::from_redis_string(&bytes).unwrap();
        assert_eq!(registers.set().collect::<Vec<_>>(), vec![(16_383, 3)]);
    }
}
