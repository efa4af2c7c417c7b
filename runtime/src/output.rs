//! Text output in bpftrace 0.26's format: map printing (at exit and `print(@m[, top[, div]])`),
//! `print(value)`, and printf. Pure formatting: values arrive decoded and merged across CPUs;
//! nothing here does I/O.
//!
//! Reference: bpftrace `src/output/text.cpp` (layout), `src/types_format.cpp` (sorting, top,
//! div, histogram labels), `src/format_string.cpp` (printf).

mod hist;
pub mod json;
pub mod printf;
mod tseries;

use std::cmp::Ordering;
use std::fmt;

// Unused until the runtime prints maps (like `dead_code` above).
#[allow(unused_imports)]
// The bucket formulas in Rust: the reference the tests check the tables (and, through the
// end-to-end tests, the BPF code in `lower`) against.
#[cfg(test)]
pub use hist::{hist_bucket, hist_bucket_count, lhist_bucket, lhist_bucket_count};

/// A decoded key or plain value.
#[derive(Clone, Debug, PartialEq)]
// Records, arrays, buffers, pointers and enum symbols are printed as bpftrace prints them; the
// compiler produces them once structs and buffers land (issue 4).
#[allow(dead_code)]
pub enum Value {
    Int(i64),
    Uint(u64),
    Bool(bool),
    /// Already cut at its NUL (and given bpftrace's `..` trailer if it was truncated).
    Str(String),
    /// Printed `(1, a, (2, 3))`.
    Tuple(Vec<Value>),
    /// A record or C struct, printed `{ .a = 1, .b = 2 }`.
    Record(Vec<(String, Value)>),
    /// A C array, printed `[1,2,3]`.
    Array(Vec<Value>),
    /// buf(): printable ASCII kept, other bytes as `\xNN`.
    Buffer(Vec<u8>),
    /// Printed `0x` and hex.
    Pointer(u64),
    /// A C value of a type rbt does not compute with (`float`): JSON's null.
    None,
    /// An enum value printed by its name; printf `%d` prints `value`.
    Symbol {
        name: String,
        value: i64,
    },
}

/// An aggregation's value, already merged across CPUs by the caller.
#[derive(Clone, Debug, PartialEq)]
pub enum Aggregate {
    Count(u64),
    /// `Int` or `Uint`, by the signedness of the summed expression.
    Sum(Value),
    Min(Value),
    Max(Value),
    Avg {
        count: u64,
        total: Value,
    },
    Stats {
        count: u64,
        total: Value,
    },
    /// `bits` is the k of hist(n, k); `buckets[i]` counts bucket i of [`hist_bucket`] (the
    /// vector may be shorter than [`hist_bucket_count`]: missing buckets are empty).
    Hist {
        bits: u8,
        buckets: Vec<u64>,
    },
    /// `buckets[i]` counts bucket i of [`lhist_bucket`].
    Lhist {
        min: i64,
        max: i64,
        step: i64,
        buckets: Vec<u64>,
    },
    /// tseries: each interval's start (nanoseconds of the TAI clock, which bpftrace shows as
    /// wall-clock time) and its value, None for an interval nothing was recorded in.
    Tseries {
        points: Vec<(u64, Option<Value>)>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum MapValue {
    Plain(Value),
    Agg(Aggregate),
}

/// One element of a map.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// None for a scalar map (`@x = ...`).
    pub key: Option<Value>,
    pub value: MapValue,
}

/// The text bpftrace prints for a map at exit or for `print(@name, top, div)`. `name` keeps its
/// `@`. `top` = 0 prints every entry, otherwise the `top` last entries in sorted order (the
/// largest, still ascending); `div` divides printed values (0 counts as 1; not lhist, and for
/// stats only the average).
///
/// Sorting follows bpftrace: count/sum/integer values and min/max ascending by value, avg/stats
/// by average, hist/lhist by total count, anything else by key. Ties, which bpftrace leaves in
/// its hash-table order, keep key order here so the output is deterministic.
///
/// Lines are `@name: v` or `@name[k]: v` (tuple keys without their outer parentheses); a
/// hist/lhist is `@name:` or `@name[k]:`, its table, then one blank line. An empty map prints
/// nothing: for an empty scalar map bpftrace's print() shows the zero value, so the caller passes
/// that entry (`Count(0)`, `Stats { count: 0, total: Int(0) }`, ...).
pub fn format_map(name: &str, entries: Vec<Entry>, top: usize, div: u64) -> String {
    let div = div.max(1);
    let mut out = String::new();
    for entry in &sorted_top(entries, top) {
        write_entry(&mut out, name, entry, div);
    }
    out
}

/// The entries in printing order, only the `top` last of them when `top` > 0.
pub(crate) fn sorted_top(mut entries: Vec<Entry>, top: usize) -> Vec<Entry> {
    sort_entries(&mut entries);
    if top > 0 {
        let skip = entries.len().saturating_sub(top);
        entries.drain(..skip);
    }
    entries
}

/// The text of `print(value)` for a value that is not a map: the value and a newline.
pub fn format_value(v: &Value) -> String {
    format!("{v}\n")
}

/// bpftrace's `hex_format_buffer`: `keep_ascii` keeps printable ASCII bytes as they are; other
/// bytes become `\xNN` when `escape_hex`, else `NN` separated by spaces.
pub(crate) fn buffer_text(bytes: &[u8], keep_ascii: bool, escape_hex: bool) -> String {
    let mut text = String::new();
    for (i, &b) in bytes.iter().enumerate() {
        if keep_ascii && (32..=126).contains(&b) {
            text.push(char::from(b));
        } else if escape_hex {
            text.push_str(&format!("\\x{b:02x}"));
        } else if i + 1 == bytes.len() {
            text.push_str(&format!("{b:02x}"));
        } else {
            text.push_str(&format!("{b:02x} "));
        }
    }
    text
}

fn write_joined(f: &mut fmt::Formatter<'_>, values: &[Value], separator: &str) -> fmt::Result {
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            f.write_str(separator)?;
        }
        write!(f, "{v}")?;
    }
    Ok(())
}

/// The text form bpftrace uses for values everywhere (map lines, print, printf `%s`).
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(n) => write!(f, "{n}"),
            Value::Uint(n) => write!(f, "{n}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Str(s) => f.write_str(s),
            Value::Tuple(values) => {
                f.write_str("(")?;
                write_joined(f, values, ", ")?;
                f.write_str(")")
            }
            Value::Record(fields) if fields.is_empty() => f.write_str("{}"),
            Value::Record(fields) => {
                f.write_str("{ ")?;
                for (i, (name, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, ".{name} = {v}")?;
                }
                f.write_str(" }")
            }
            // Arrays get no spaces, unlike tuples.
            Value::Array(values) => {
                f.write_str("[")?;
                write_joined(f, values, ",")?;
                f.write_str("]")
            }
            Value::Buffer(bytes) => f.write_str(&buffer_text(bytes, true, true)),
            Value::Pointer(p) => write!(f, "0x{p:x}"),
            Value::Symbol { name, .. } => f.write_str(name),
            Value::None => f.write_str("none"),
        }
    }
}

/// The key as printed inside `@name[...]`: a tuple loses its outer parentheses.
fn key_text(key: &Value) -> String {
    match key {
        Value::Tuple(values) => {
            let inner: Vec<String> = values.iter().map(|v| v.to_string()).collect();
            inner.join(", ")
        }
        other => other.to_string(),
    }
}

fn write_entry(out: &mut String, name: &str, entry: &Entry, div: u64) {
    let header = match &entry.key {
        None => name.to_string(),
        Some(key) => format!("{name}[{}]", key_text(key)),
    };
    match &entry.value {
        MapValue::Agg(Aggregate::Hist { bits, buckets }) => {
            out.push_str(&format!("{header}:\n"));
            hist::write_log2(out, buckets, *bits, div);
            out.push('\n');
        }
        MapValue::Agg(Aggregate::Lhist {
            min,
            max,
            step,
            buckets,
        }) => {
            out.push_str(&format!("{header}:\n"));
            hist::write_linear(out, buckets, *min, *max, *step);
            out.push('\n');
        }
        MapValue::Agg(Aggregate::Tseries { points }) => {
            out.push_str(&format!("{header}:\n"));
            tseries::write_graph(out, points);
            out.push('\n');
        }
        value => out.push_str(&format!("{header}: {}\n", value_text(value, div))),
    }
}

/// An integer value divided by print's `div`; other values are left alone.
pub(crate) fn divided(v: &Value, div: u64) -> Value {
    match v {
        Value::Int(n) => Value::Int(n / i64::try_from(div).unwrap_or(i64::MAX)),
        Value::Uint(n) => Value::Uint(n / div),
        other => other.clone(),
    }
}

/// avg's integer average (truncating, as bpftrace does), 0 when nothing was counted.
pub(crate) fn average(count: u64, total: &Value) -> Value {
    match total {
        _ if count == 0 => Value::Int(0),
        Value::Int(t) => Value::Int(t / i64::try_from(count).unwrap_or(i64::MAX)),
        Value::Uint(t) => Value::Uint(t / count),
        other => panic!("bug: avg/stats total is not an integer: {other:?}"),
    }
}

fn value_text(value: &MapValue, div: u64) -> String {
    match value {
        MapValue::Plain(v) => divided(v, div).to_string(),
        MapValue::Agg(agg) => match agg {
            Aggregate::Count(n) => (n / div).to_string(),
            Aggregate::Sum(v) | Aggregate::Min(v) | Aggregate::Max(v) => {
                divided(v, div).to_string()
            }
            Aggregate::Avg { count, total } => divided(&average(*count, total), div).to_string(),
            Aggregate::Stats { count, total } => {
                let avg = divided(&average(*count, total), div);
                format!("{{ .count = {count}, .average = {avg}, .total = {total} }}")
            }
            Aggregate::Hist { .. } | Aggregate::Lhist { .. } | Aggregate::Tseries { .. } => {
                panic!("bug: histograms and time series are printed as tables")
            }
        },
    }
}

fn integer_rank(v: &Value) -> Option<i128> {
    match v {
        Value::Int(n) => Some(i128::from(*n)),
        Value::Uint(n) => Some(i128::from(*n)),
        Value::Symbol { value, .. } => Some(i128::from(*value)),
        _ => None,
    }
}

/// What bpftrace sorts a map's entries by, or None to sort by key only.
fn value_rank(value: &MapValue) -> Option<i128> {
    match value {
        MapValue::Plain(v) => integer_rank(v),
        MapValue::Agg(agg) => match agg {
            Aggregate::Count(n) => Some(i128::from(*n)),
            Aggregate::Sum(v) => integer_rank(v),
            // bpftrace compares min/max as unsigned even when signed: negatives sort last.
            Aggregate::Min(v) | Aggregate::Max(v) => {
                integer_rank(v).map(|n| i128::from(n as i64 as u64))
            }
            Aggregate::Avg { count, total } | Aggregate::Stats { count, total } => {
                integer_rank(&average(*count, total))
            }
            Aggregate::Hist { buckets, .. } | Aggregate::Lhist { buckets, .. } => {
                Some(buckets.iter().map(|&n| i128::from(n)).sum())
            }
            // bpftrace prints time series in key order.
            Aggregate::Tseries { .. } => None,
        },
    }
}

fn sort_entries(entries: &mut [Entry]) {
    entries.sort_by(|a, b| compare_keys(a.key.as_ref(), b.key.as_ref()));
    if entries.iter().all(|e| value_rank(&e.value).is_some()) {
        entries.sort_by_key(|e| value_rank(&e.value));
    }
}

fn compare_keys(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => compare_key(a, b),
        _ => Ordering::Equal,
    }
}

/// Key order: integers as signed 64-bit numbers (bpftrace compares integer keys as signed),
/// strings bytewise, tuples field by field. Keys bpftrace does not sort (records, arrays) compare
/// equal and keep the caller's order.
fn compare_key(a: &Value, b: &Value) -> Ordering {
    let as_signed = |v: &Value| match v {
        Value::Int(n) => Some(*n),
        Value::Uint(n) => Some(*n as i64),
        Value::Symbol { value, .. } => Some(*value),
        _ => None,
    };
    if let (Some(x), Some(y)) = (as_signed(a), as_signed(b)) {
        return x.cmp(&y);
    }
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Pointer(x), Value::Pointer(y)) => x.cmp(y),
        (Value::Buffer(x), Value::Buffer(y)) => x.cmp(y),
        (Value::Tuple(xs), Value::Tuple(ys)) => xs
            .iter()
            .zip(ys)
            .map(|(x, y)| compare_key(x, y))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal),
        _ => Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyed(key: Value, value: MapValue) -> Entry {
        Entry {
            key: Some(key),
            value,
        }
    }

    fn scalar(value: MapValue) -> Vec<Entry> {
        vec![Entry { key: None, value }]
    }

    fn s(text: &str) -> Value {
        Value::Str(text.to_string())
    }

    fn count(n: u64) -> MapValue {
        MapValue::Agg(Aggregate::Count(n))
    }

    fn avg(count: u64, total: i64) -> MapValue {
        MapValue::Agg(Aggregate::Avg {
            count,
            total: Value::Int(total),
        })
    }

    fn hist_of(values: &[i64]) -> MapValue {
        let mut buckets = vec![0; hist_bucket_count(0)];
        for &v in values {
            buckets[hist_bucket(v, 0)] += 1;
        }
        MapValue::Agg(Aggregate::Hist { bits: 0, buckets })
    }

    #[test]
    fn scalar_count_sum_min_max() {
        assert_eq!(format_map("@x", scalar(count(2)), 0, 1), "@x: 2\n");
        let sum = MapValue::Agg(Aggregate::Sum(Value::Uint(6)));
        assert_eq!(format_map("@sum", scalar(sum), 0, 1), "@sum: 6\n");
        let min = MapValue::Agg(Aggregate::Min(Value::Int(1)));
        assert_eq!(format_map("@min", scalar(min), 0, 1), "@min: 1\n");
        let max = MapValue::Agg(Aggregate::Max(Value::Int(-1)));
        assert_eq!(format_map("@mx", scalar(max), 0, 1), "@mx: -1\n");
    }

    #[test]
    fn plain_values() {
        let neg = MapValue::Plain(Value::Int(-11));
        assert_eq!(format_map("@", scalar(neg), 0, 1), "@: -11\n");
        let text = MapValue::Plain(s("xxxx"));
        assert_eq!(format_map("@x", scalar(text), 0, 1), "@x: xxxx\n");
        let flag = MapValue::Plain(Value::Bool(true));
        assert_eq!(format_map("@b", scalar(flag), 0, 1), "@b: true\n");
    }

    #[test]
    fn avg_truncates_including_negatives() {
        assert_eq!(format_map("@avg", scalar(avg(3, 6)), 0, 1), "@avg: 2\n");
        assert_eq!(format_map("@", scalar(avg(2, -40)), 0, 1), "@: -20\n");
        assert_eq!(format_map("@", scalar(avg(101, 5050)), 0, 1), "@: 50\n");
        assert_eq!(format_map("@", scalar(avg(3, -7)), 0, 1), "@: -2\n");
    }

    #[test]
    fn stats_record() {
        let stats = |count, total| {
            scalar(MapValue::Agg(Aggregate::Stats {
                count,
                total: Value::Int(total),
            }))
        };
        assert_eq!(
            format_map("@stats", stats(3, 6), 0, 1),
            "@stats: { .count = 3, .average = 2, .total = 6 }\n"
        );
        assert_eq!(
            format_map("@", stats(3, -10), 0, 1),
            "@: { .count = 3, .average = -3, .total = -10 }\n"
        );
        assert_eq!(
            format_map("@", stats(0, 0), 0, 1),
            "@: { .count = 0, .average = 0, .total = 0 }\n"
        );
    }

    #[test]
    fn count_sorts_ascending_by_value() {
        let entries = vec![
            keyed(s("b"), count(5)),
            keyed(s("a"), count(7)),
            keyed(s("c"), count(1)),
        ];
        assert_eq!(
            format_map("@", entries, 0, 1),
            "@[c]: 1\n@[b]: 5\n@[a]: 7\n"
        );
    }

    #[test]
    fn signed_sum_sorts_negatives_first_and_ties_by_key() {
        let sum = |n| MapValue::Agg(Aggregate::Sum(Value::Int(n)));
        let entries = vec![
            keyed(Value::Int(3), sum(4)),
            keyed(Value::Int(2), sum(-8)),
            keyed(Value::Int(1), sum(4)),
        ];
        assert_eq!(
            format_map("@s", entries, 0, 1),
            "@s[2]: -8\n@s[1]: 4\n@s[3]: 4\n"
        );
    }

    #[test]
    fn min_sorts_as_unsigned_like_bpftrace() {
        let min = |n| MapValue::Agg(Aggregate::Min(Value::Int(n)));
        let entries = vec![keyed(s("a"), min(-1)), keyed(s("b"), min(5))];
        assert_eq!(format_map("@m", entries, 0, 1), "@m[b]: 5\n@m[a]: -1\n");
    }

    #[test]
    fn string_values_sort_by_key() {
        let entries = vec![
            keyed(Value::Int(10), MapValue::Plain(s("x"))),
            keyed(Value::Int(-2), MapValue::Plain(s("y"))),
            keyed(Value::Int(3), MapValue::Plain(s("z"))),
        ];
        assert_eq!(
            format_map("@", entries, 0, 1),
            "@[-2]: y\n@[3]: z\n@[10]: x\n"
        );
    }

    #[test]
    fn string_keys_sort_bytewise() {
        let entries = vec![
            keyed(s("ba"), MapValue::Plain(s("1"))),
            keyed(s("b"), MapValue::Plain(s("2"))),
            keyed(s("B"), MapValue::Plain(s("3"))),
        ];
        assert_eq!(
            format_map("@", entries, 0, 1),
            "@[B]: 3\n@[b]: 2\n@[ba]: 1\n"
        );
    }

    #[test]
    fn tuple_keys_lose_outer_parentheses() {
        let key = Value::Tuple(vec![Value::Int(1), s("a")]);
        assert_eq!(
            format_map("@c", vec![keyed(key, count(1))], 0, 1),
            "@c[1, a]: 1\n"
        );
        let nested = Value::Tuple(vec![
            Value::Int(1),
            Value::Tuple(vec![Value::Int(-20), Value::Int(30)]),
        ]);
        assert_eq!(
            format_map("@", vec![keyed(nested, count(2))], 0, 1),
            "@[1, (-20, 30)]: 2\n"
        );
        let key = Value::Tuple(vec![
            Value::Uint(1),
            Value::Uint(5),
            Value::Uint(1),
            Value::Int(10),
            Value::Uint(7),
        ]);
        assert_eq!(
            format_map("@", vec![keyed(key, MapValue::Plain(Value::Int(1)))], 0, 1),
            "@[1, 5, 1, 10, 7]: 1\n"
        );
    }

    #[test]
    fn tuple_keys_sort_field_by_field() {
        let key = |n, t: &str| Value::Tuple(vec![Value::Int(n), s(t)]);
        let text = |t: &str| MapValue::Plain(s(t));
        let entries = vec![
            keyed(key(2, "a"), text("w")),
            keyed(key(1, "b"), text("x")),
            keyed(key(1, "a"), text("y")),
        ];
        assert_eq!(
            format_map("@", entries, 0, 1),
            "@[1, a]: y\n@[1, b]: x\n@[2, a]: w\n"
        );
    }

    #[test]
    fn print_avg_with_top_and_div() {
        // bpftrace tests/runtime/outputs/print_avg_map_args.txt and ..._with_large_top.txt
        let entries = || {
            vec![
                keyed(s("a"), avg(1, 10)),
                keyed(s("b"), avg(1, 20)),
                keyed(s("c"), avg(1, 30)),
                keyed(s("d"), avg(1, 40)),
            ]
        };
        assert_eq!(format_map("@", entries(), 2, 10), "@[c]: 3\n@[d]: 4\n");
        assert_eq!(
            format_map("@", entries(), 10, 10),
            "@[a]: 1\n@[b]: 2\n@[c]: 3\n@[d]: 4\n"
        );
    }

    #[test]
    fn print_top_and_div_doc_examples() {
        // bpftrace docs/stdlib.md, print: top keeps the largest values, div scales them.
        let map = |offset: i64| -> Vec<Entry> {
            (1..=10)
                .map(|n| keyed(Value::Int(n), MapValue::Plain(Value::Int(n - offset))))
                .collect()
        };
        assert_eq!(format_map("@", map(1), 2, 1), "@[9]: 8\n@[10]: 9\n");
        assert_eq!(
            format_map("@", map(0), 5, 2),
            "@[6]: 3\n@[7]: 3\n@[8]: 4\n@[9]: 4\n@[10]: 5\n"
        );
    }

    #[test]
    fn div_applies_to_count_and_stats_average_only() {
        assert_eq!(format_map("@", scalar(count(25)), 0, 10), "@: 2\n");
        assert_eq!(format_map("@", scalar(count(25)), 0, 0), "@: 25\n");
        let stats = MapValue::Agg(Aggregate::Stats {
            count: 2,
            total: Value::Uint(200),
        });
        assert_eq!(
            format_map("@", scalar(stats), 0, 10),
            "@: { .count = 2, .average = 10, .total = 200 }\n"
        );
        let text = MapValue::Plain(s("x"));
        assert_eq!(format_map("@", scalar(text), 0, 10), "@: x\n");
    }

    #[test]
    fn scalar_hist_table_then_blank_line() {
        let expected = "\
@:
(..., 0)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[0]                    0 |                                                    |
[1]                    0 |                                                    |
[2, 4)                 2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[4, 8)                 1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[8, 16)                0 |                                                    |
[16, 32)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |

";
        let value = hist_of(&[-1, 2, 3, 7, 20]);
        assert_eq!(format_map("@", scalar(value), 0, 1), expected);
    }

    #[test]
    fn scalar_lhist_table() {
        let mut buckets = vec![0; lhist_bucket_count(0, 10, 2)];
        for v in [2, 3, 7, -1, 11] {
            buckets[lhist_bucket(v, 0, 10, 2)] += 1;
        }
        let value = MapValue::Agg(Aggregate::Lhist {
            min: 0,
            max: 10,
            step: 2,
            buckets,
        });
        let text = format_map("@", scalar(value), 0, 1);
        assert!(text.starts_with("@:\n(..., 0)               1 |"));
        assert!(text.ends_with(
            "[10, ...)              1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |\n\n"
        ));
        assert_eq!(text.lines().count(), 9);
    }

    #[test]
    fn keyed_hists_sort_by_total_and_take_top() {
        let entries = vec![
            keyed(Value::Int(1), hist_of(&[10, 10, 10])),
            keyed(Value::Int(2), hist_of(&[20])),
            keyed(Value::Int(3), hist_of(&[30, 30])),
        ];
        let expected = "\
@[3]:
[16, 32)               2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

@[1]:
[8, 16)                3 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

";
        assert_eq!(format_map("@", entries, 2, 1), expected);
    }

    #[test]
    fn keyed_lhists_sort_by_total() {
        // bpftrace tests/runtime/json-output "multiple linear histograms"
        let lhist_of = |values: &[i64]| {
            let mut buckets = vec![0; lhist_bucket_count(0, 100, 10)];
            for &v in values {
                buckets[lhist_bucket(v, 0, 100, 10)] += 1;
            }
            MapValue::Agg(Aggregate::Lhist {
                min: 0,
                max: 100,
                step: 10,
                buckets,
            })
        };
        let entries = vec![
            keyed(s("bpftrace"), lhist_of(&[2, 1000])),
            keyed(s("curl"), lhist_of(&[50])),
        ];
        let text = format_map("@stats", entries, 0, 1);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2 + 1 + 1 + 11 + 1);
        assert_eq!(lines[0], "@stats[curl]:");
        assert!(lines[1].starts_with("[50, 60)               1 |@@@@"));
        assert_eq!(lines[2], "");
        assert_eq!(lines[3], "@stats[bpftrace]:");
        assert!(lines[4].starts_with("[0, 10)                1 |"));
        assert!(lines[14].starts_with("[100, ...)             1 |"));
        assert_eq!(lines[15], "");
    }

    #[test]
    fn empty_hist_prints_header_and_blank_line() {
        let value = MapValue::Agg(Aggregate::Hist {
            bits: 0,
            buckets: Vec::new(),
        });
        assert_eq!(format_map("@h", scalar(value), 0, 1), "@h:\n\n");
    }

    #[test]
    fn empty_map_prints_nothing() {
        assert_eq!(format_map("@", Vec::new(), 0, 1), "");
    }

    #[test]
    fn value_text_forms() {
        let tuple = Value::Tuple(vec![
            Value::Int(1),
            Value::Int(2),
            s("string"),
            Value::Tuple(vec![Value::Int(4), Value::Int(5)]),
        ]);
        assert_eq!(format_value(&tuple), "(1, 2, string, (4, 5))\n");
        let record = Value::Record(vec![
            ("a".to_string(), Value::Int(0)),
            ("b".to_string(), Value::Tuple(vec![Value::Int(0), s("")])),
        ]);
        assert_eq!(format_value(&record), "{ .a = 0, .b = (0, ) }\n");
        assert_eq!(format_value(&Value::Record(Vec::new())), "{}\n");
        let array = Value::Array(vec![Value::Int(1), Value::Int(2), Value::Int(3)]);
        assert_eq!(format_value(&array), "[1,2,3]\n");
        assert_eq!(format_value(&Value::Pointer(0x32)), "0x32\n");
        assert_eq!(format_value(&Value::Bool(false)), "false\n");
        assert_eq!(
            format_value(&Value::Uint(u64::MAX)),
            "18446744073709551615\n"
        );
        let symbol = Value::Symbol {
            name: "ONE".to_string(),
            value: 1,
        };
        assert_eq!(format_value(&symbol), "ONE\n");
    }

    #[test]
    fn struct_array_and_bool_forms_from_the_conformance_cases() {
        let foo = || {
            Value::Record(vec![
                ("m".to_string(), Value::Int(2)),
                ("n".to_string(), Value::Int(3)),
            ])
        };
        let zero = || MapValue::Plain(Value::Int(0));
        assert_eq!(
            format_map("@s", vec![keyed(foo(), zero())], 0, 1),
            "@s[{ .m = 2, .n = 3 }]: 0\n"
        );
        let key = Value::Tuple(vec![foo(), Value::Int(42)]);
        assert_eq!(
            format_map("@s", vec![keyed(key, zero())], 0, 1),
            "@s[{ .m = 2, .n = 3 }, 42]: 0\n"
        );
        let tuple = Value::Tuple(vec![Value::Int(1), foo()]);
        assert_eq!(
            format_map("@t", scalar(MapValue::Plain(tuple)), 0, 1),
            "@t: (1, { .m = 2, .n = 3 })\n"
        );
        let array = (1..=4).map(Value::Int).collect();
        let tuple = Value::Tuple(vec![Value::Int(1), Value::Array(array)]);
        assert_eq!(
            format_map("@t", scalar(MapValue::Plain(tuple)), 0, 1),
            "@t: (1, [1,2,3,4])\n"
        );
        let bools = Value::Array(vec![Value::Bool(true), Value::Bool(false)]);
        assert_eq!(
            format_map("@a", scalar(MapValue::Plain(bools)), 0, 1),
            "@a: [true,false]\n"
        );
        let entry = keyed(Value::Bool(true), MapValue::Plain(Value::Bool(false)));
        assert_eq!(format_map("@a", vec![entry], 0, 1), "@a[true]: false\n");
        let entry = keyed(Value::Uint(u64::MAX), zero());
        assert_eq!(
            format_map("@a", vec![entry], 0, 1),
            "@a[18446744073709551615]: 0\n"
        );
        let nested = Value::Record(vec![
            (
                "y".to_string(),
                Value::Record(vec![("m".to_string(), Value::Array(vec![Value::Int(2)]))]),
            ),
            (
                "a".to_string(),
                Value::Record(vec![("n".to_string(), Value::Int(3))]),
            ),
        ]);
        assert_eq!(
            format_map("@s", scalar(MapValue::Plain(nested)), 0, 1),
            "@s: { .y = { .m = [2] }, .a = { .n = 3 } }\n"
        );
    }

    #[test]
    fn int_values_sort_by_value() {
        let entries = vec![
            keyed(Value::Int(1), MapValue::Plain(Value::Int(1))),
            keyed(Value::Int(0), MapValue::Plain(Value::Int(0))),
        ];
        assert_eq!(format_map("@a", entries, 0, 1), "@a[0]: 0\n@a[1]: 1\n");
    }

    #[test]
    fn buffer_keys_escape_non_printable_bytes() {
        let key = Value::Buffer(b"ok_key\0".to_vec());
        assert_eq!(
            format_map("@", vec![keyed(key, count(1))], 0, 1),
            "@[ok_key\\x00]: 1\n"
        );
        let key = Value::Tuple(vec![Value::Buffer(b"ok_key\0".to_vec()), Value::Int(1)]);
        assert_eq!(key_text(&key), "ok_key\\x00, 1");
        assert_eq!(buffer_text(&[0x41, 0x00, 0xff], false, false), "41 00 ff");
        assert_eq!(buffer_text(&[0x41, 0x00], false, true), "\\x41\\x00");
    }
}
