//! e^-x and 1 - e^-x in inline arithmetic, for the decays of the report path (the
//! latency average, the Peak EWMA estimate), which must not call out.

/// e^-x for x >= 0 (0 from x = 700 on, and 1 for NaN: no decay), to about 1e-13
/// relative (the rounding of x log2(e) for large x; a sample weight needs far
/// less). Below 1/32 (a step short against the time constant, the request path's
/// common case, tested first) by its series to x^6/6!, whose remainder is below
/// x^7/7! < 6e-15 there; above, 2^-k from the exponent bits times e^-y, y in
/// [0, ln 2), by its Taylor series to y^13/13! (a remainder below 2^-52).
/// Inline arithmetic only, so the report path stays free of calls.
#[inline(always)]
pub(crate) fn exp_neg(x: f64) -> f64 {
    if x < 0.03125 {
        const C1: f64 = 1.0 / 2.0;
        const C2: f64 = 1.0 / 6.0;
        const C3: f64 = 1.0 / 24.0;
        const C4: f64 = 1.0 / 120.0;
        const C5: f64 = 1.0 / 720.0;
        return 1.0 - x * (1.0 - x * (C1 - x * (C2 - x * (C3 - x * (C4 - x * C5)))));
    }
    if x.is_nan() {
        return 1.0;
    }
    if x >= 700.0 {
        return 0.0;
    }
    let t = x * std::f64::consts::LOG2_E;
    // 0 <= t < 1010: truncation is floor, and the signed conversion is one
    // instruction where the unsigned one is a dozen.
    let k = t as i64 as u64;
    let y = (t - k as i64 as f64) * std::f64::consts::LN_2;
    // Horner over (-1)^i / i!, i = 13 down to 0.
    const C: [f64; 14] = [
        1.0,
        -1.0,
        1.0 / 2.0,
        -1.0 / 6.0,
        1.0 / 24.0,
        -1.0 / 120.0,
        1.0 / 720.0,
        -1.0 / 5_040.0,
        1.0 / 40_320.0,
        -1.0 / 362_880.0,
        1.0 / 3_628_800.0,
        -1.0 / 39_916_800.0,
        1.0 / 479_001_600.0,
        -1.0 / 6_227_020_800.0,
    ];
    let mut p = C[13];
    for c in C[..13].iter().rev() {
        p = p * y + c;
    }
    // 2^-k as an f64: exponent 1023 - k >= 13, a normal number.
    p * f64::from_bits((1023 - k) << 52)
}

/// 1 - e^-x for x >= 0, for the Peak EWMA estimate's step: for x below 1/16
/// (steps short against the time constant, the common case) by its series to
/// x^5/5! (a relative error below x^5/6! < 2e-9, and no cancellation), else from
/// `exp_neg`.
/// Inline arithmetic only.
#[inline(always)]
pub(crate) fn one_minus_exp_neg(x: f64) -> f64 {
    if x < 0.0625 {
        // x - x^2/2 + x^3/6 - x^4/24 + x^5/120, by Horner with the reciprocals
        // as constants (no division).
        const C1: f64 = 1.0 / 2.0;
        const C2: f64 = 1.0 / 6.0;
        const C3: f64 = 1.0 / 24.0;
        const C4: f64 = 1.0 / 120.0;
        x * (1.0 - x * (C1 - x * (C2 - x * (C3 - x * C4))))
    } else {
        1.0 - exp_neg(x)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn exp_neg_matches_libm() {
        let mut worst = 0.0f64;
        let mut x = 0.0;
        while x < 690.0 {
            let want = libm::exp(-x);
            let got = exp_neg(x);
            worst = worst.max(((got - want) / want).abs());
            x = x * 1.07 + 1e-4;
        }
        assert!(worst < 1e-12, "worst relative error {worst}");
        assert_eq!(exp_neg(0.0), 1.0);
        assert_eq!(exp_neg(1e6), 0.0);
        assert_eq!(exp_neg(f64::INFINITY), 0.0);
        let mut x = 1e-9;
        while x < 50.0 {
            let want = -libm::expm1(-x);
            let got = one_minus_exp_neg(x);
            assert!(
                ((got - want) / want).abs() < 1e-8,
                "1 - e^-{x}: {got} vs {want}"
            );
            x *= 1.01;
        }
    }
}
