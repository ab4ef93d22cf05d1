//! Scenario files: the TOML format of `lb-sim/README.md`, parsed by hand
//! over `toml`'s spanned document so that every error names the file, the
//! line and the key it is about.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::balancer;

/// z such that P(N(0,1) <= z) = 0.99.
pub const Z_99: f64 = 2.326_347_874_040_840_8;

/// A scenario error: file, 1-based line, key path and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: String,
    /// 0 when the error is about the file as a whole (it could not be read).
    pub line: usize,
    /// Dotted key path such as `backends[1].latency_ms.p99`; empty for a
    /// TOML syntax error, which has no key.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else if self.key.is_empty() {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        } else {
            write!(
                f,
                "{}:{}: key `{}`: {}",
                self.file, self.line, self.key, self.message
            )
        }
    }
}

impl std::error::Error for ScenarioError {}

/// Service-time distribution: log-normal through a median and a p99.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Latency {
    pub median_ms: f64,
    pub p99_ms: f64,
}

impl Latency {
    /// `mu` of the underlying normal, in ln(ms).
    pub fn mu(&self) -> f64 {
        libm::log(self.median_ms)
    }

    /// `sigma` of the underlying normal.
    pub fn sigma(&self) -> f64 {
        (libm::log(self.p99_ms) - libm::log(self.median_ms)) / Z_99
    }

    /// Mean service time in ms: exp(mu + sigma^2 / 2).
    pub fn mean_ms(&self) -> f64 {
        let s = self.sigma();
        libm::exp(self.mu() + s * s / 2.0)
    }

    /// Second moment E[S^2] in ms^2: exp(2 mu + 2 sigma^2).
    pub fn second_moment_ms2(&self) -> f64 {
        let s = self.sigma();
        libm::exp(2.0 * self.mu() + 2.0 * s * s)
    }
}

/// One backend profile (after `count` expansion).
#[derive(Clone, Debug, PartialEq)]
pub struct Backend {
    pub weight: u32,
    pub capacity: u32,
    pub concurrency: u32,
    pub latency: Latency,
    pub error_rate: f64,
    pub error_latency_ms: f64,
}

/// Changes that an event applies to an existing backend.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Change {
    pub latency: Option<Latency>,
    pub error_rate: Option<f64>,
    pub error_latency_ms: Option<f64>,
    pub concurrency: Option<u32>,
    pub weight: Option<u32>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum EventKind {
    Change {
        backend: usize,
        change: Change,
    },
    Remove {
        backend: usize,
    },
    /// The new backend takes the next index, in event order.
    Add {
        backend: usize,
        def: Backend,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub at_s: f64,
    pub kind: EventKind,
}

/// How a keyed scenario's requests draw their key ids.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum KeyDistribution {
    /// Every id in 0..count equally likely.
    Uniform,
    /// P(k) proportional to 1 / (k + 1)^s: id 0 is the hottest.
    Zipf { s: f64 },
}

/// The key set of a keyed scenario: each arrival draws an id in 0..count, and
/// the balancer gets `lb::hash_bytes(&id.to_le_bytes())` through `select_key`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Keys {
    pub count: u64,
    pub distribution: KeyDistribution,
}

/// The most key ids a scenario may have (the Zipf table holds one f64 per id,
/// and the affinity count packs an id into 32 bits).
pub const MAX_KEYS: u64 = 10_000_000;

#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// The path it was read from (as given), used in messages.
    pub file: String,
    pub name: String,
    pub seed: u64,
    pub duration_s: f64,
    pub warmup_s: f64,
    pub rate_rps: f64,
    pub timeout_ms: Option<f64>,
    /// Strategy names, validated; `None` = the default list of
    /// [`strategies_for`](crate::strategies_for).
    pub strategies: Option<Vec<String>>,
    /// The key set; `None` = requests carry no key and go through `select`.
    pub keys: Option<Keys>,
    pub backends: Vec<Backend>,
    pub events: Vec<Event>,
}

impl Scenario {
    /// Number of backend indices the run uses: the initial set plus one per
    /// `add` event.
    pub fn total_backends(&self) -> usize {
        self.backends.len()
            + self
                .events
                .iter()
                .filter(|e| matches!(e.kind, EventKind::Add { .. }))
                .count()
    }
}

/// The keys each kind of table takes: an unknown key is compared with these
/// to suggest the one meant.
const TOP_KEYS: &[&str] = &[
    "name",
    "seed",
    "duration_s",
    "warmup_s",
    "rate_rps",
    "timeout_ms",
    "strategies",
    "keys",
    "backends",
    "events",
];
const BACKEND_KEYS: &[&str] = &[
    "count",
    "weight",
    "capacity",
    "concurrency",
    "latency_ms",
    "error_rate",
    "error_latency_ms",
];
const EVENT_KEYS: &[&str] = &[
    "at_s",
    "backend",
    "action",
    "backend_def",
    "latency_ms",
    "error_rate",
    "error_latency_ms",
    "concurrency",
    "weight",
];
const KEYS_KEYS: &[&str] = &["count", "distribution", "s"];
const LATENCY_KEYS: &[&str] = &["median", "p99"];

/// Read and parse a scenario file.
pub fn load(path: &str) -> Result<Scenario, ScenarioError> {
    match std::fs::read_to_string(path) {
        Ok(src) => parse(path, &src),
        Err(e) => Err(ScenarioError {
            file: path.to_string(),
            line: 0,
            key: String::new(),
            message: format!("cannot read the file: {e}"),
        }),
    }
}

/// Parse scenario text; `file` is only used in messages.
pub fn parse(file: &str, src: &str) -> Result<Scenario, ScenarioError> {
    let cx = Cx { file, src };
    let doc = DeTable::parse(src).map_err(|e| {
        let line = e.span().map(|s| cx.line_of(s.start)).unwrap_or(1);
        ScenarioError {
            file: file.to_string(),
            line,
            key: String::new(),
            message: format!("invalid TOML: {}", e.message().trim_end()),
        }
    })?;
    let root_span = doc.span();
    let mut top =
        Table::new(&cx, doc.get_ref(), String::new(), root_span, TOP_KEYS).reject_unknown()?;

    let name = top.required("name")?;
    let name = name.string()?.to_string();
    let seed = match top.optional("seed") {
        Some(v) => v.u64()?,
        None => 1,
    };
    let duration_v = top.required("duration_s")?;
    let duration_s = duration_v.positive()?;
    let warmup_s = match top.optional("warmup_s") {
        Some(v) => {
            let w = v.non_negative()?;
            if w >= duration_s {
                return Err(v.err(format!(
                    "warmup_s ({w}) must be less than duration_s ({duration_s}), or nothing is measured"
                )));
            }
            w
        }
        None => 0.0,
    };
    let rate_rps = top.required("rate_rps")?.positive()?;
    let timeout_ms = match top.optional("timeout_ms") {
        Some(v) => Some(v.positive()?),
        None => None,
    };
    let strategies = match top.optional("strategies") {
        Some(v) => Some(parse_strategies(&v)?),
        None => None,
    };
    let keys = match top.optional("keys") {
        Some(v) => Some(parse_keys(&v)?),
        None => None,
    };

    let backends_v = top.required("backends")?;
    let mut backends = Vec::new();
    let items = backends_v.array_of_tables(BACKEND_KEYS)?;
    if items.is_empty() {
        return Err(backends_v.err("at least one backend is required".into()));
    }
    for mut t in items {
        let count = match t.optional("count") {
            Some(v) => v.u32_min(1)?,
            None => 1,
        };
        let b = parse_backend(&mut t)?;
        t.finish()?;
        for _ in 0..count {
            backends.push(b.clone());
        }
    }

    let mut events = Vec::new();
    if let Some(ev) = top.optional("events") {
        let mut n_backends = backends.len();
        let mut last_at = 0.0f64;
        for t in ev.array_of_tables(EVENT_KEYS)? {
            let mut t = t;
            let at_v = t.required("at_s")?;
            let at_s = at_v.non_negative()?;
            if at_s < last_at {
                return Err(at_v.err(format!(
                    "events must be in time order: at_s = {at_s} comes after an event at {last_at}"
                )));
            }
            last_at = at_s;
            let action = match t.optional("action") {
                Some(v) => Some((v.string()?.to_string(), v)),
                None => None,
            };
            let kind = match action {
                Some((a, _)) if a == "add" => {
                    if let Some(bv) = t.optional("backend") {
                        let idx = bv.u64()?;
                        if idx != n_backends as u64 {
                            return Err(bv.err(format!(
                                "an added backend takes the next index, {n_backends}, not {idx}"
                            )));
                        }
                    }
                    let def_v = t.required("backend_def")?;
                    let mut dt = def_v.table(BACKEND_KEYS)?;
                    if let Some(cv) = dt.optional("count") {
                        if cv.u64()? != 1 {
                            return Err(
                                cv.err("an added backend is one backend: count must be 1".into())
                            );
                        }
                    }
                    let def = parse_backend(&mut dt)?;
                    dt.finish()?;
                    let k = EventKind::Add {
                        backend: n_backends,
                        def,
                    };
                    n_backends += 1;
                    k
                }
                Some((a, _)) if a == "remove" => {
                    let backend = backend_index(&mut t, n_backends)?;
                    EventKind::Remove { backend }
                }
                Some((a, av)) => {
                    return Err(av.err(format!(
                        "unknown action \"{a}\": expected \"add\" or \"remove\" (or no action, to change a backend)"
                    )));
                }
                None => {
                    let backend = backend_index(&mut t, n_backends)?;
                    let mut change = Change::default();
                    if let Some(v) = t.optional("latency_ms") {
                        change.latency = Some(parse_latency(&v)?);
                    }
                    if let Some(v) = t.optional("error_rate") {
                        change.error_rate = Some(v.fraction()?);
                    }
                    if let Some(v) = t.optional("error_latency_ms") {
                        change.error_latency_ms = Some(v.non_negative()?);
                    }
                    if let Some(v) = t.optional("concurrency") {
                        change.concurrency = Some(v.u32_min(1)?);
                    }
                    if let Some(v) = t.optional("weight") {
                        change.weight = Some(v.u32_min(1)?);
                    }
                    if change == Change::default() {
                        // Report an unknown key first if there is one: it is
                        // the likelier mistake.
                        t.finish()?;
                        return Err(t.err_here(
                            "at_s",
                            "the event changes nothing: give one of latency_ms, error_rate, error_latency_ms, concurrency, weight, or action".into(),
                        ));
                    }
                    EventKind::Change { backend, change }
                }
            };
            t.finish()?;
            events.push(Event { at_s, kind });
        }
    }
    top.finish()?;

    Ok(Scenario {
        file: file.to_string(),
        name,
        seed,
        duration_s,
        warmup_s,
        rate_rps,
        timeout_ms,
        strategies,
        keys,
        backends,
        events,
    })
}

fn backend_index(t: &mut Table<'_, '_>, n_backends: usize) -> Result<usize, ScenarioError> {
    let v = t.required("backend")?;
    let idx = v.u64()?;
    if idx >= n_backends as u64 {
        return Err(v.err(format!(
            "there is no backend {idx}: the scenario has {n_backends} at this point (indices 0..={})",
            n_backends.saturating_sub(1)
        )));
    }
    Ok(idx as usize)
}

fn parse_strategies(v: &Val<'_, '_>) -> Result<Vec<String>, ScenarioError> {
    let arr = match v.value.get_ref() {
        DeValue::Array(a) => a,
        other => {
            return Err(v.err(format!(
                "expected an array of strategy names, found {}",
                other.type_str()
            )))
        }
    };
    if arr.is_empty() {
        return Err(v.err("give at least one strategy, or leave the key out for all".into()));
    }
    let mut out: Vec<String> = Vec::new();
    for (i, item) in arr.iter().enumerate() {
        let iv = Val {
            cx: v.cx,
            key: format!("{}[{i}]", v.key),
            value: item,
        };
        let s = iv.string()?;
        balancer::parse_run(s).map_err(|e| iv.err(e))?;
        if out.iter().any(|o| o == s) {
            return Err(iv.err(format!("strategy \"{s}\" is listed twice")));
        }
        out.push(s.to_string());
    }
    Ok(out)
}

fn parse_keys(v: &Val<'_, '_>) -> Result<Keys, ScenarioError> {
    let mut t = v.table(KEYS_KEYS)?;
    let count_v = t.required("count")?;
    let dist_v = t.required("distribution")?;
    let s_v = t.optional("s");
    // An unknown key first: a misspelt `s` would otherwise read as a missing one.
    t.finish()?;
    let count = count_v.u64()?;
    if count == 0 {
        return Err(count_v.err("must be at least 1, found 0".into()));
    }
    if count > MAX_KEYS {
        return Err(count_v.err(format!("must be at most {MAX_KEYS}, found {count}")));
    }
    let distribution = match dist_v.string()? {
        "uniform" => {
            if let Some(s_v) = s_v {
                return Err(
                    s_v.err("`s` is the zipf exponent: a uniform key set takes none".into())
                );
            }
            KeyDistribution::Uniform
        }
        "zipf" => match s_v {
            Some(s_v) => KeyDistribution::Zipf { s: s_v.positive()? },
            None => {
                return Err(t.err_here(
                    "s",
                    "required key is missing: a zipf key set needs its exponent s > 0".into(),
                ))
            }
        },
        other => {
            return Err(dist_v.err(format!(
                "unknown distribution \"{other}\": expected \"uniform\" or \"zipf\""
            )))
        }
    };
    Ok(Keys {
        count,
        distribution,
    })
}

fn parse_backend(t: &mut Table<'_, '_>) -> Result<Backend, ScenarioError> {
    let weight = match t.optional("weight") {
        Some(v) => v.u32_min(1)?,
        None => 1,
    };
    let capacity = match t.optional("capacity") {
        Some(v) => v.u32_min(0)?,
        None => 0,
    };
    let concurrency = match t.optional("concurrency") {
        Some(v) => v.u32_min(1)?,
        None => 1,
    };
    let latency = parse_latency(&t.required("latency_ms")?)?;
    let error_rate = match t.optional("error_rate") {
        Some(v) => v.fraction()?,
        None => 0.0,
    };
    let error_latency_ms = match t.optional("error_latency_ms") {
        Some(v) => v.non_negative()?,
        None => 1.0,
    };
    Ok(Backend {
        weight,
        capacity,
        concurrency,
        latency,
        error_rate,
        error_latency_ms,
    })
}

fn parse_latency(v: &Val<'_, '_>) -> Result<Latency, ScenarioError> {
    let mut t = v.table(LATENCY_KEYS)?;
    let median_ms = t.required("median")?.positive()?;
    let p99_v = t.required("p99")?;
    let p99_ms = p99_v.positive()?;
    if p99_ms < median_ms {
        return Err(p99_v.err(format!(
            "p99 ({p99_ms}) is below the median ({median_ms}): p99 must be at least the median"
        )));
    }
    t.finish()?;
    Ok(Latency { median_ms, p99_ms })
}

struct Cx<'s> {
    file: &'s str,
    src: &'s str,
}

impl Cx<'_> {
    fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.src.len());
        self.src.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    fn err(&self, span: &Range<usize>, key: &str, message: String) -> ScenarioError {
        ScenarioError {
            file: self.file.to_string(),
            line: self.line_of(span.start),
            key: key.to_string(),
            message,
        }
    }
}

/// A TOML table being read: keys are taken one by one, and `finish` reports
/// the first (in file order) that nobody asked for.
/// (key, value, taken) for one entry of a table.
type Entry<'d> = (&'d Spanned<Cow<'d, str>>, &'d Spanned<DeValue<'d>>, bool);

struct Table<'c, 'd> {
    cx: &'c Cx<'c>,
    entries: Vec<Entry<'d>>,
    path: String,
    span: Range<usize>,
    /// Every key this kind of table takes, for suggestions.
    known: &'static [&'static str],
}

impl<'c, 'd> Table<'c, 'd> {
    fn new(
        cx: &'c Cx<'c>,
        t: &'d DeTable<'d>,
        path: String,
        span: Range<usize>,
        known: &'static [&'static str],
    ) -> Self {
        let mut entries: Vec<_> = t.iter().map(|(k, v)| (k, v, false)).collect();
        entries.sort_by_key(|(k, _, _)| k.span().start);
        Table {
            cx,
            entries,
            path,
            span,
            known,
        }
    }

    fn child_key(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn optional(&mut self, key: &str) -> Option<Val<'c, 'd>> {
        let full = self.child_key(key);
        let cx = self.cx;
        self.entries
            .iter_mut()
            .find(|(k, _, _)| k.get_ref().as_ref() == key)
            .map(|e| {
                e.2 = true;
                Val {
                    cx,
                    key: full,
                    value: e.1,
                }
            })
    }

    fn required(&mut self, key: &str) -> Result<Val<'c, 'd>, ScenarioError> {
        if let Some(v) = self.optional(key) {
            return Ok(v);
        }
        // A misspelling of the missing key is the likelier mistake, and its
        // line says where to look. Keys the table takes are not misspellings.
        let typo = self.entries.iter().find(|(k, _, taken)| {
            let name = k.get_ref().as_ref();
            !taken && !self.known.contains(&name) && suggest(name, &[key]).is_some()
        });
        if let Some((k, _, _)) = typo {
            let name = k.get_ref().as_ref();
            return Err(self.cx.err(
                &k.span(),
                &self.child_key(name),
                format!("unknown key '{name}', did you mean '{key}'?"),
            ));
        }
        Err(self.cx.err(
            &self.span,
            &self.child_key(key),
            "required key is missing".into(),
        ))
    }

    /// An error about the table itself, attributed to one of its keys.
    fn err_here(&self, key: &str, message: String) -> ScenarioError {
        let span = self
            .entries
            .iter()
            .find(|(k, _, _)| k.get_ref().as_ref() == key)
            .map(|(k, _, _)| k.span())
            .unwrap_or_else(|| self.span.clone());
        self.cx.err(&span, &self.child_key(key), message)
    }

    /// Refuses the first key (in file order) that this kind of table never
    /// takes, before anything in the table is read: a misspelt key or table
    /// header explains whatever else would go wrong after it.
    fn reject_unknown(self) -> Result<Self, ScenarioError> {
        match self
            .entries
            .iter()
            .find(|(k, _, _)| !self.known.contains(&k.get_ref().as_ref()))
        {
            Some((k, _, _)) => Err(self.unknown(k)),
            None => Ok(self),
        }
    }

    /// Refuses the first key (in file order) that nobody asked for: one this
    /// kind of table takes but not here, such as `latency_ms` on an `add` event.
    fn finish(&self) -> Result<(), ScenarioError> {
        match self.entries.iter().find(|e| !e.2) {
            Some((k, _, _)) => Err(self.unknown(k)),
            None => Ok(()),
        }
    }

    fn unknown(&self, k: &Spanned<Cow<'_, str>>) -> ScenarioError {
        let name = k.get_ref().as_ref();
        // A key the table has is not the one meant, unless it is an array
        // (`[[backend]]` beside `[[backends]]` is one more backend).
        let absent: Vec<&str> = self
            .known
            .iter()
            .copied()
            .filter(|known| {
                !self.entries.iter().any(|e| {
                    e.0.get_ref().as_ref() == *known && !matches!(e.1.get_ref(), DeValue::Array(_))
                })
            })
            .collect();
        let message = match suggest(name, &absent) {
            Some(s) => format!("unknown key '{name}', did you mean '{s}'?"),
            None => format!(
                "unknown key '{name}'; this table takes {}",
                self.known.join(", ")
            ),
        };
        self.cx.err(&k.span(), &self.child_key(name), message)
    }
}

/// The key of `known` that `typed` is most likely a misspelling of: within an
/// edit distance of 2, or sharing a prefix (the whole of the shorter one, or
/// at least 4 characters; either way at least 3). The nearest wins, then the
/// first listed.
pub fn suggest<'k>(typed: &str, known: &[&'k str]) -> Option<&'k str> {
    let typed_l = typed.to_ascii_lowercase();
    let mut best: Option<(usize, &'k str)> = None;
    for &k in known {
        let d = edit_distance(&typed_l, k);
        let prefix = typed_l
            .bytes()
            .zip(k.bytes())
            .take_while(|(a, b)| a == b)
            .count();
        let shorter = typed_l.len().min(k.len());
        let close = d <= 2 || (prefix >= 3 && (prefix == shorter || prefix >= 4));
        if close && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, k));
        }
    }
    best.map(|(_, k)| k)
}

/// Levenshtein distance over bytes (keys are ASCII), one row at a time.
fn edit_distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// One value with its key path.
struct Val<'c, 'd> {
    cx: &'c Cx<'c>,
    key: String,
    value: &'d Spanned<DeValue<'d>>,
}

impl<'c, 'd> Val<'c, 'd> {
    fn err(&self, message: String) -> ScenarioError {
        self.cx.err(&self.value.span(), &self.key, message)
    }

    fn string(&self) -> Result<&'d str, ScenarioError> {
        match self.value.get_ref() {
            DeValue::String(s) => Ok(s.as_ref()),
            other => Err(self.err(format!("expected a string, found {}", other.type_str()))),
        }
    }

    fn table(&self, known: &'static [&'static str]) -> Result<Table<'c, 'd>, ScenarioError> {
        match self.value.get_ref() {
            DeValue::Table(t) => {
                Table::new(self.cx, t, self.key.clone(), self.value.span(), known).reject_unknown()
            }
            other => Err(self.err(format!("expected a table, found {}", other.type_str()))),
        }
    }

    fn array_of_tables(
        &self,
        known: &'static [&'static str],
    ) -> Result<Vec<Table<'c, 'd>>, ScenarioError> {
        let arr = match self.value.get_ref() {
            DeValue::Array(a) => a,
            other => {
                return Err(self.err(format!(
                    "expected an array of tables ([[{}]]), found {}",
                    self.key,
                    other.type_str()
                )))
            }
        };
        let mut out = Vec::new();
        for (i, item) in arr.iter().enumerate() {
            let key = format!("{}[{i}]", self.key);
            match item.get_ref() {
                DeValue::Table(t) => {
                    // The span of an array-of-tables entry starts at its
                    // header line.
                    out.push(Table::new(self.cx, t, key, item.span(), known).reject_unknown()?);
                }
                other => {
                    return Err(self.cx.err(
                        &item.span(),
                        &key,
                        format!("expected a table, found {}", other.type_str()),
                    ))
                }
            }
        }
        Ok(out)
    }

    fn integer(&self) -> Result<i128, ScenarioError> {
        match self.value.get_ref() {
            DeValue::Integer(i) => i128::from_str_radix(i.as_str(), i.radix())
                .map_err(|_| self.err(format!("integer {i} is out of range"))),
            other => Err(self.err(format!("expected an integer, found {}", other.type_str()))),
        }
    }

    fn u64(&self) -> Result<u64, ScenarioError> {
        let i = self.integer()?;
        if i < 0 {
            return Err(self.err(format!("must not be negative, found {i}")));
        }
        u64::try_from(i).map_err(|_| self.err(format!("integer {i} is too large")))
    }

    fn u32_min(&self, min: u32) -> Result<u32, ScenarioError> {
        let i = self.integer()?;
        if i < 0 {
            return Err(self.err(format!("must not be negative, found {i}")));
        }
        if i < min as i128 {
            return Err(self.err(format!("must be at least {min}, found {i}")));
        }
        u32::try_from(i)
            .map_err(|_| self.err(format!("integer {i} is too large (max {})", u32::MAX)))
    }

    fn number(&self) -> Result<f64, ScenarioError> {
        let x = match self.value.get_ref() {
            DeValue::Integer(_) => self.integer()? as f64,
            DeValue::Float(f) => f
                .as_str()
                .parse::<f64>()
                .map_err(|_| self.err(format!("cannot read the number {f}")))?,
            other => return Err(self.err(format!("expected a number, found {}", other.type_str()))),
        };
        if !x.is_finite() {
            return Err(self.err(format!("must be a finite number, found {x}")));
        }
        Ok(x)
    }

    fn non_negative(&self) -> Result<f64, ScenarioError> {
        let x = self.number()?;
        if x < 0.0 {
            return Err(self.err(format!("must not be negative, found {x}")));
        }
        Ok(x)
    }

    fn positive(&self) -> Result<f64, ScenarioError> {
        let x = self.non_negative()?;
        if x == 0.0 {
            return Err(self.err("must be greater than 0".into()));
        }
        Ok(x)
    }

    fn fraction(&self) -> Result<f64, ScenarioError> {
        let x = self.number()?;
        if !(0.0..=1.0).contains(&x) {
            return Err(self.err(format!("must be between 0 and 1, found {x}")));
        }
        Ok(x)
    }
}
