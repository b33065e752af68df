//! The one random-number generator: xorshift64* (Vigna), for what needs spread and no
//! cryptography — retry jitter, DNS query IDs (seeded from the kernel, so they cannot
//! be guessed from outside the way sequential ones can), the test server's delays. No
//! clock, no thread, repeatable from its seed.

/// The next 64 bits from `state`, which must not be zero.
pub(crate) fn xorshift64star(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_sequence_is_repeatable_and_never_stuck() {
        let (mut a, mut b) = (1, 1);
        let first: Vec<u64> = (0..4).map(|_| super::xorshift64star(&mut a)).collect();
        assert_eq!(first, (0..4).map(|_| super::xorshift64star(&mut b)).collect::<Vec<_>>());
        assert!(first.windows(2).all(|w| w[0] != w[1]) && a != 0);
    }
}
