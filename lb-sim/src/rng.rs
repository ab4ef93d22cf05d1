//! Random streams of a pinned algorithm (PCG XSL-RR 128/64) and the
//! distributions the simulator draws from, computed with `libm` so that the
//! numbers do not depend on the platform's math library.

use rand_core::RngCore;
use rand_pcg::Pcg64;

/// What a stream is used for; each purpose gets an independent stream.
#[derive(Clone, Copy, Debug)]
pub enum Purpose {
    Arrivals = 1,
    Requests = 2,
    /// Key ids of a keyed scenario, one draw per arrival.
    Keys = 3,
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub struct Stream(Pcg64);

impl Stream {
    pub fn new(seed: u64, purpose: Purpose) -> Stream {
        let p = purpose as u64;
        let hi = splitmix64(seed ^ splitmix64(p));
        let lo = splitmix64(hi ^ seed.rotate_left(17) ^ p);
        let state = ((hi as u128) << 64) | lo as u128;
        Stream(Pcg64::new(state, p as u128 * 2 + 1))
    }

    /// Uniform in [0, 1), 53 bits.
    pub fn uniform(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in (0, 1].
    pub fn uniform_open0(&mut self) -> f64 {
        1.0 - self.uniform()
    }

    /// Exponential with the given mean.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * libm::log(self.uniform_open0())
    }

    /// Standard normal (Box-Muller, one of the pair).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform_open0();
        let u2 = self.uniform();
        libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(2.0 * std::f64::consts::PI * u2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_repeatable_and_distinct() {
        let mut a = Stream::new(7, Purpose::Arrivals);
        let mut b = Stream::new(7, Purpose::Arrivals);
        let mut c = Stream::new(7, Purpose::Requests);
        let xa: Vec<f64> = (0..8).map(|_| a.uniform()).collect();
        let xb: Vec<f64> = (0..8).map(|_| b.uniform()).collect();
        let xc: Vec<f64> = (0..8).map(|_| c.uniform()).collect();
        assert_eq!(xa, xb);
        assert_ne!(xa, xc);
    }

    #[test]
    fn normal_has_unit_moments() {
        let mut s = Stream::new(1, Purpose::Requests);
        let n = 200_000;
        let (mut sum, mut sq) = (0.0, 0.0);
        for _ in 0..n {
            let z = s.normal();
            sum += z;
            sq += z * z;
        }
        let mean = sum / n as f64;
        let var = sq / n as f64 - mean * mean;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.01, "var {var}");
    }
}
