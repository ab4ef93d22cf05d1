//! The hashes behind keyed selection, fixed for all of 1.x so that every process
//! (every nginx worker, every language binding) maps a key to the same member:
//!
//! - [`hash_bytes`]: what callers hash their own bytes with (`lb_hash_bytes` in C):
//!   XXH3, 64-bit, seed 0 (Yann Collet's xxHash family; the `xxhash-rust` crate).
//! - [`mix_key`]: what lb does to the 64-bit key a caller passes before it looks it
//!   up, so that keys differing in a few low bits (1, 2, 3, ...) land far apart:
//!   the 64-bit finalizer of MurmurHash3 (`fmix64`, Austin Appleby).
//! - [`hash_id`]: where an instance sits in a table, from its id and a seed:
//!   XXH3-64 of the id's 8 little-endian bytes with that seed.
//!
//! Bottom layer: reads nothing of the crate.

/// XXH3 64-bit with seed 0 of `bytes`. The same value from Rust, C
/// (`lb_hash_bytes`), C++ and Go for the same bytes.
#[inline]
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

/// MurmurHash3's `fmix64`: a bijection of u64 whose output bits each depend on
/// every input bit. Keyed selection applies it to the caller's key.
#[inline(always)]
pub(crate) fn mix_key(key: u64) -> u64 {
    let mut k = key;
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

/// XXH3-64 of `id`'s 8 little-endian bytes with `seed`: an instance's place in a
/// hashing strategy's table (its seed tells the uses apart).
#[inline]
pub(crate) fn hash_id(id: u64, seed: u64) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(&id.to_le_bytes(), seed)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// The shared test vector (`tests/vectors/hash_bytes.txt`, read by the C, C++
    /// and Go tests too): pinned for 1.x.
    #[test]
    fn hash_bytes_matches_the_shared_vector() {
        let text = include_str!("../tests/vectors/hash_bytes.txt");
        let mut rows = 0;
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (input, want) = line.split_once(' ').expect("two fields");
            let input = if input == "-" { "" } else { input };
            let bytes: Vec<u8> = (0..input.len() / 2)
                .map(|i| u8::from_str_radix(&input[2 * i..2 * i + 2], 16).unwrap())
                .collect();
            let want = u64::from_str_radix(want, 16).unwrap();
            assert_eq!(hash_bytes(&bytes), want, "input {input}");
            rows += 1;
        }
        assert_eq!(rows, 6);
        // The published XXH3-64 of the empty input (seed 0).
        assert_eq!(hash_bytes(b""), 0x2D06_8005_38D3_94C2);
    }

    #[test]
    fn mix_key_spreads_neighbours() {
        assert_eq!(mix_key(0), 0, "fmix64 fixes 0");
        let a = mix_key(1);
        let b = mix_key(2);
        assert!((a ^ b).count_ones() > 16, "{a:x} {b:x}");
    }
}
