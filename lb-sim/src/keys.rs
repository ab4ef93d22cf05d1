//! Key ids for keyed scenarios: a sampler that turns a uniform draw into an id
//! of the scenario's key set, and the key lb is given for an id.

use crate::rng::Stream;
use crate::scenario::{KeyDistribution, Keys};

/// Draws key ids in 0..count from a stream.
#[derive(Clone, Debug)]
pub enum KeySampler {
    /// Every id equally likely: floor(u * count).
    Uniform { count: u64 },
    /// Zipf: `cdf[k]` is the unnormalised weight of ids 0..=k, each id k
    /// weighing (k + 1)^-s; a draw is the first id whose sum exceeds u times
    /// the total (a binary search).
    Zipf { cdf: Vec<f64> },
}

impl KeySampler {
    pub fn new(keys: &Keys) -> KeySampler {
        match keys.distribution {
            KeyDistribution::Uniform => KeySampler::Uniform { count: keys.count },
            KeyDistribution::Zipf { s } => {
                let mut sum = 0.0;
                let cdf = (0..keys.count)
                    .map(|k| {
                        sum += libm::pow((k + 1) as f64, -s);
                        sum
                    })
                    .collect();
                KeySampler::Zipf { cdf }
            }
        }
    }

    /// The number of ids.
    pub fn count(&self) -> u64 {
        match self {
            KeySampler::Uniform { count } => *count,
            KeySampler::Zipf { cdf } => cdf.len() as u64,
        }
    }

    /// The probability of id `k` (for tests and diagnosis).
    pub fn probability(&self, k: u64) -> f64 {
        match self {
            KeySampler::Uniform { count } => {
                if k < *count {
                    1.0 / *count as f64
                } else {
                    0.0
                }
            }
            KeySampler::Zipf { cdf } => {
                let Some(&hi) = cdf.get(k as usize) else {
                    return 0.0;
                };
                let lo = if k == 0 { 0.0 } else { cdf[k as usize - 1] };
                (hi - lo) / cdf[cdf.len() - 1]
            }
        }
    }

    /// One id, from one uniform draw of `stream`.
    pub fn draw(&self, stream: &mut Stream) -> u64 {
        let u = stream.uniform();
        match self {
            KeySampler::Uniform { count } => {
                // u < 1, so the product is below count but for rounding.
                ((u * *count as f64) as u64).min(count - 1)
            }
            KeySampler::Zipf { cdf } => {
                let target = u * cdf[cdf.len() - 1];
                let k = cdf.partition_point(|&c| c <= target);
                k.min(cdf.len() - 1) as u64
            }
        }
    }
}

/// The key lb gets for key id `id`: `lb::hash_bytes` of its 8 little-endian bytes.
pub fn lb_key(id: u64) -> u64 {
    lb::hash_bytes(&id.to_le_bytes())
}
