//! The option table's own consistency, and `Config::set_option`.

use super::*;

/// Ids are 1, 2, ... in order, names are distinct, bounds of whole-number options
/// are whole, and every default is of its field's type and in its range.
#[test]
fn option_table_is_consistent() {
    for (i, spec) in OPTIONS.iter().enumerate() {
        assert_eq!(spec.id as usize, i + 1, "{} out of order", spec.name);
        assert_eq!(by_id(spec.id).map(|s| s.name), Some(spec.name));
        assert_eq!(by_name(spec.name).map(|s| s.id), Some(spec.id));
        if spec.is_whole() {
            for bound in [spec.min, spec.max] {
                assert!(bound.fract() == 0.0 && (0.0..=(1u64 << 53) as f64).contains(&bound));
            }
        }
        let value = spec.parse(spec.default).expect(spec.name);
        assert!(spec.check(value).is_ok(), "{} default", spec.name);
    }
    assert!(by_id(0).is_none());
    assert!(by_id(OPTIONS.len() as u32 + 1).is_none());
    for (lesser, greater) in ORDERED {
        assert!(by_name(lesser).is_some() && by_name(greater).is_some());
    }
}

fn set_f64(spec: &OptionSpec, config: &mut Config, value: f64) -> bool {
    match spec.parse(value) {
        Some(v) => {
            spec.set(config, v);
            true
        }
        None => false,
    }
}

fn nudge(value: f64, whole: bool, up: bool) -> f64 {
    let step = if whole {
        1.0
    } else {
        (value.abs() * 1e-9).max(1e-9)
    };
    if up {
        value + step
    } else {
        value - step
    }
}

/// Config::default() takes each row's default, and validation puts each bound
/// where the row says: the ends (or just inside an open end) are accepted, just
/// outside refused, with an error naming the field.
#[test]
fn validation_follows_the_table() {
    let defaults = Config::default();
    for spec in OPTIONS.iter() {
        assert_eq!(spec.get(&defaults), spec.default, "{} default", spec.name);
    }
    let refuses = |config: &Config, spec: &OptionSpec, v: f64| match config.validate() {
        Err(Error::InvalidArgument { field, .. }) => assert_eq!(field, spec.name, "{v}"),
        other => panic!("{} accepted {v}: {other:?}", spec.name),
    };
    // Lower ends, in table order (a base before its maximum).
    let mut config = Config::default();
    for spec in OPTIONS.iter() {
        let (low, below) = if spec.min_open {
            (nudge(spec.min, spec.is_whole(), true), spec.min)
        } else {
            (spec.min, nudge(spec.min, spec.is_whole(), false))
        };
        let mut refused = config.clone();
        if set_f64(spec, &mut refused, below) {
            refuses(&refused, spec, below);
        }
        assert!(set_f64(spec, &mut config, low), "{} {low}", spec.name);
        assert!(config.validate().is_ok(), "{} refused {low}", spec.name);
    }
    // Upper ends, in reverse order (a maximum before its base).
    let mut config = Config::default();
    for spec in OPTIONS.iter().rev() {
        let (high, above) = if spec.max_open {
            (nudge(spec.max, spec.is_whole(), false), spec.max)
        } else {
            (spec.max, nudge(spec.max, spec.is_whole(), true))
        };
        let mut refused = config.clone();
        assert!(set_f64(spec, &mut refused, above), "{} {above}", spec.name);
        refuses(&refused, spec, above);
        assert!(set_f64(spec, &mut config, high), "{} {high}", spec.name);
        assert!(config.validate().is_ok(), "{} refused {high}", spec.name);
    }
    // The pairs: a greater one below its lesser one is refused, naming it.
    for (lesser, greater) in ORDERED {
        let mut config = Config::default();
        let lo = by_name(lesser).unwrap();
        let hi = by_name(greater).unwrap();
        assert!(set_f64(lo, &mut config, 1000.0) && set_f64(hi, &mut config, 1000.0));
        assert!(config.validate().is_ok());
        assert!(set_f64(hi, &mut config, 999.0));
        refuses(&config, hi, 999.0);
    }
}

/// maglev_table_size must be a prime: the error names it, and the table's
/// bounds and default are primes.
#[test]
fn maglev_table_size_must_be_a_prime() {
    let spec = by_name("maglev_table_size").unwrap();
    for p in [spec.min, spec.max, spec.default, 251.0, 65_521.0] {
        assert!(is_prime(p as u64), "{p}");
        let mut config = Config::default();
        assert!(set_f64(spec, &mut config, p));
        assert!(config.validate().is_ok(), "{p}");
    }
    for not_prime in [18.0, 65_536.0, 65_535.0, 5_000_000.0] {
        let mut config = Config::default();
        assert!(set_f64(spec, &mut config, not_prime));
        match config.validate() {
            Err(Error::InvalidArgument { field, .. }) => assert_eq!(field, spec.name),
            other => panic!("{not_prime} accepted: {other:?}"),
        }
    }
    assert!(!is_prime(0) && !is_prime(1) && is_prime(2) && is_prime(3) && !is_prime(4));
}

/// hash_balance_factor is 0 (off) or at least 100.
#[test]
fn hash_balance_factor_is_off_or_at_least_100() {
    let spec = by_name("hash_balance_factor").unwrap();
    for ok in [0.0, 100.0, 125.0, 10_000.0] {
        let mut config = Config::default();
        assert!(set_f64(spec, &mut config, ok));
        assert!(config.validate().is_ok(), "{ok}");
    }
    for bad in [1.0, 50.0, 99.0] {
        let mut config = Config::default();
        assert!(set_f64(spec, &mut config, bad));
        match config.validate() {
            Err(Error::InvalidArgument { field, .. }) => assert_eq!(field, spec.name),
            other => panic!("{bad} accepted: {other:?}"),
        }
    }
}

/// Values that cannot be the field's type are not parsed.
#[test]
fn values_of_the_wrong_kind_are_not_parsed() {
    for spec in OPTIONS.iter() {
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(spec.parse(bad), None, "{} took {bad}", spec.name);
        }
        if spec.is_whole() {
            for bad in [0.5, -1.0, 1e300, spec.default + 0.25] {
                assert_eq!(spec.parse(bad), None, "{} took {bad}", spec.name);
            }
        }
    }
    // A NaN or an out-of-range integer set from Rust is refused by validate.
    let nan = Config {
        latency_tau_ms: f64::NAN,
        ..Config::default()
    };
    assert!(nan.validate().is_err());
    let huge = Config {
        pick_timeout_ms: u64::MAX,
        ..Config::default()
    };
    assert!(huge.validate().is_err());
}

#[test]
fn set_option_by_name_checks_type_and_range() {
    let mut c = Config::default();
    c.set_option("slow_start_window_ms", 5_000.0).unwrap();
    assert_eq!(c.slow_start_window_ms, 5_000);
    c.set_option("trial_ratio", 0.25).unwrap();
    assert_eq!(c.trial_ratio, 0.25);
    let before = c.clone();
    for (name, bad) in [
        ("slow_start_window_ms", 2.5),
        ("slow_start_window_ms", -1.0),
        ("slow_start_window_ms", f64::NAN),
        ("slow_start_aggression", 0.0),
        ("slow_start_aggression", f64::INFINITY),
        ("slow_start_min_weight_percent", 100.5),
        ("no_such_option", 1.0),
        ("strategy", 1.0),
    ] {
        assert!(
            matches!(c.set_option(name, bad), Err(Error::InvalidArgument { .. })),
            "{name} = {bad}"
        );
    }
    assert_eq!(c, before);
}
