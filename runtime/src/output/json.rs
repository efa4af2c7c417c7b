//! `-f json`: bpftrace's JSON output, one object per line (NDJSON), each
//! `{"type": <what>, "data": <payload>}`. Pure formatting, like the text output.
//!
//! Reference: bpftrace `src/output/json.cpp` (emitters, spacing) and `src/types_format.cpp`
//! (which histogram buckets are shown and their bounds). The spacing is bpftrace's: objects are
//! spaced (`{"a": 1, "b": 2}`), arrays are not (`[1,2]`); consumers compare parsed JSON, but
//! people diff lines.

use super::{Aggregate, Entry, MapValue, Value, average, divided, sorted_top};

/// A JSON string literal, escaped as bpftrace escapes it: `"`, `\`, `\n`, `\r`, `\t` by name,
/// other control characters as `\u00XX`.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) <= 0x1f => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// JSON numbers are doubles: an integer a double cannot hold exactly is emitted as a string, as
/// bpftrace does (RFC 8259's interoperability advice).
fn signed(n: i64) -> String {
    let d = n as f64;
    // 2^63 itself is out of range; `as` would saturate back to i64::MAX and hide that.
    if d < 9_223_372_036_854_775_808.0 && d as i64 == n {
        n.to_string()
    } else {
        string(&n.to_string())
    }
}

fn unsigned(n: u64) -> String {
    let d = n as f64;
    if d < 18_446_744_073_709_551_616.0 && d as u64 == n {
        n.to_string()
    } else {
        string(&n.to_string())
    }
}

/// A value as JSON: tuples and arrays become arrays, records objects, buffers arrays of (signed)
/// chars, pointers and enum values their number.
pub fn value(v: &Value) -> String {
    match v {
        Value::Int(n) => signed(*n),
        Value::Uint(n) | Value::Pointer(n) => unsigned(*n),
        Value::Bool(b) => b.to_string(),
        Value::Str(s) => string(s),
        Value::Tuple(values) | Value::Array(values) => array(values.iter().map(value)),
        Value::Record(fields) => object(fields.iter().map(|(name, v)| (name.clone(), value(v)))),
        Value::Buffer(bytes) => array(bytes.iter().map(|&b| (b as i8).to_string())),
        Value::Symbol { value, .. } => signed(*value),
        Value::None => "null".to_string(),
    }
}

fn array(items: impl Iterator<Item = String>) -> String {
    format!("[{}]", items.collect::<Vec<_>>().join(","))
}

fn object(fields: impl Iterator<Item = (String, String)>) -> String {
    let fields: Vec<String> = fields
        .map(|(name, v)| format!("{}: {v}", string(&name)))
        .collect();
    format!("{{{}}}", fields.join(", "))
}

/// A map key as bpftrace writes it: its text form, a tuple without its parentheses, and without
/// any spaces (`"bpftrace,2"`); bpftrace strips spaces inside strings too.
fn key_text(key: &Value) -> String {
    let text = key.to_string();
    let text = match text.strip_prefix('(').and_then(|t| t.strip_suffix(')')) {
        Some(inner) => inner.to_string(),
        None => text,
    };
    text.replace(' ', "")
}

/// One output line: `{"type": "<kind>", "data": <data>}` and a newline.
fn line(kind: &str, data: &str) -> String {
    format!("{{\"type\": \"{kind}\", \"data\": {data}}}\n")
}

/// printf's formatted text.
pub fn printf(text: &str) -> String {
    line("printf", &string(text))
}

/// join()'s strings, already joined.
pub fn join(text: &str) -> String {
    line("join", &string(text))
}

/// print() of a value that is not a map.
pub fn print_value(v: &Value) -> String {
    line("value", &value(v))
}

/// The line that says how many probes are attached.
pub fn attached_probes(probes: usize) -> String {
    format!(
        "{{\"type\": \"attached_probes\", \"count\": {probes}, \"data\": {{\"probes\": {probes}}}}}\n"
    )
}

/// The line that reports events the kernel could not hand over.
pub fn lost_events(events: u64) -> String {
    format!(
        "{{\"type\": \"lost_events\", \"count\": {events}, \"data\": {{\"events\": {events}}}}}\n"
    )
}

/// A map, at exit or for `print(@name, top, div)`, with the same sorting, `top` and `div` as the
/// text output. `None` for a map with no entries (bpftrace prints nothing then); a scalar
/// histogram that should still show as `[]` (after zero()) comes as an entry with no counts.
///
/// The type is `hist` for hist/lhist, `stats` for avg and stats, `map` for everything else;
/// a scalar map is `{"@x": v}`, a keyed one `{"@x": {"key": v, ...}}`.
pub fn map(name: &str, entries: Vec<Entry>, top: usize, div: u64) -> Option<String> {
    let div = div.max(1);
    let entries = sorted_top(entries, top);
    let first = entries.first()?;
    let kind = match &first.value {
        MapValue::Agg(Aggregate::Hist { .. } | Aggregate::Lhist { .. }) => "hist",
        MapValue::Agg(Aggregate::Avg { .. } | Aggregate::Stats { .. }) => "stats",
        MapValue::Agg(Aggregate::Tseries { .. }) => "tseries",
        _ => "map",
    };
    let data = match &first.key {
        None => map_value(&first.value, div),
        Some(_) => object(entries.iter().map(|e| {
            let key = e.key.as_ref().map_or_else(String::new, key_text);
            (key, map_value(&e.value, div))
        })),
    };
    Some(line(
        kind,
        &object(std::iter::once((name.to_string(), data))),
    ))
}

fn map_value(v: &MapValue, div: u64) -> String {
    match v {
        MapValue::Plain(v) => value(&divided(v, div)),
        MapValue::Agg(agg) => match agg {
            Aggregate::Count(n) => unsigned(n / div),
            Aggregate::Sum(v) | Aggregate::Min(v) | Aggregate::Max(v) => value(&divided(v, div)),
            Aggregate::Avg { count, total } => value(&divided(&average(*count, total), div)),
            Aggregate::Stats { count, total } => object(
                [
                    ("count".to_string(), unsigned(*count)),
                    (
                        "average".to_string(),
                        value(&divided(&average(*count, total), div)),
                    ),
                    ("total".to_string(), value(total)),
                ]
                .into_iter(),
            ),
            Aggregate::Hist { bits, buckets } => {
                let rows: Option<Vec<String>> = filled(buckets).map(|(first, last)| {
                    (first..=last)
                        .map(|i| {
                            let bound = |j| log2_bound(j, *bits);
                            let min = (i > 0).then(|| unsigned(bound(i - 1)));
                            // The end is one less than where the next bucket starts (-1 for the
                            // negatives), as a signed number like bpftrace's.
                            let max = bound(i).wrapping_sub(1) as i64;
                            bucket(min, Some(signed(max)), buckets[i] / div)
                        })
                        .collect()
                });
                format!("[{}]", rows.unwrap_or_default().join(","))
            }
            // Intervals with no value are left out; bpftrace writes these objects unspaced.
            Aggregate::Tseries { points } => {
                let rows: Vec<String> = points
                    .iter()
                    .filter_map(|(ns, v)| {
                        let v = v.as_ref()?;
                        Some(format!(
                            "{{\"interval_start\":{},\"value\":{}}}",
                            string(&super::tseries::utc_time(*ns)),
                            value(v)
                        ))
                    })
                    .collect();
                format!("[{}]", rows.join(","))
            }
            // div has no effect on linear histograms, as in bpftrace.
            Aggregate::Lhist {
                min,
                max,
                step,
                buckets,
            } => {
                let rows: Option<Vec<String>> = filled(buckets).map(|(first, last)| {
                    (first..=last)
                        .map(|i| {
                            // Bucket i > 0 starts at min + (i - 1) * step; the last one has no end.
                            let start = |j: usize| min + (j as i64) * step;
                            let low = (i > 0).then(|| signed(start(i - 1)));
                            let high = (start(i) <= *max).then(|| signed(start(i) - 1));
                            bucket(low, high, buckets[i])
                        })
                        .collect()
                });
                format!("[{}]", rows.unwrap_or_default().join(","))
            }
        },
    }
}

/// The first and last bucket with a count: bpftrace shows that range, zeros inside it included.
fn filled(buckets: &[u64]) -> Option<(usize, usize)> {
    let first = buckets.iter().position(|&c| c > 0)?;
    let last = buckets.iter().rposition(|&c| c > 0)?;
    Some((first, last))
}

/// Where log2 bucket `index + 1` starts, i.e. one past bucket `index`'s end (bpftrace's label of
/// bucket `index`): 0 for the negatives, then one value per bucket up to `2 << bits`, then
/// `2^bits` buckets per power of two.
fn log2_bound(index: usize, bits: u8) -> u64 {
    let index = index as u64;
    let n = 1u64 << bits;
    if index <= 2 << bits {
        return index;
    }
    let interval = index & (n - 1);
    let power = (index >> bits) - 1;
    (1u128 << power).saturating_mul(u128::from(n + interval)) as u64
}

fn bucket(min: Option<String>, max: Option<String>, count: u64) -> String {
    let mut fields = Vec::new();
    if let Some(min) = min {
        fields.push(("min".to_string(), min));
    }
    if let Some(max) = max {
        fields.push(("max".to_string(), max));
    }
    fields.push(("count".to_string(), count.to_string()));
    object(fields.into_iter())
}

#[cfg(test)]
mod tests {
    use super::super::{hist_bucket, hist_bucket_count, lhist_bucket, lhist_bucket_count};
    use super::*;

    fn s(text: &str) -> Value {
        Value::Str(text.to_string())
    }

    fn keyed(key: Value, value: MapValue) -> Entry {
        Entry {
            key: Some(key),
            value,
        }
    }

    fn scalar(value: MapValue) -> Vec<Entry> {
        vec![Entry { key: None, value }]
    }

    fn hist_of(values: &[i64], bits: u8) -> MapValue {
        let mut buckets = vec![0; hist_bucket_count(bits)];
        for &v in values {
            buckets[hist_bucket(v, bits)] += 1;
        }
        MapValue::Agg(Aggregate::Hist { bits, buckets })
    }

    fn lhist_of(values: &[i64], min: i64, max: i64, step: i64) -> MapValue {
        let mut buckets = vec![0; lhist_bucket_count(min, max, step)];
        for &v in values {
            buckets[lhist_bucket(v, min, max, step)] += 1;
        }
        MapValue::Agg(Aggregate::Lhist {
            min,
            max,
            step,
            buckets,
        })
    }

    #[test]
    fn strings_escape_like_bpftrace() {
        assert_eq!(
            printf("test \r \n \t \\ \" bar"),
            "{\"type\": \"printf\", \"data\": \"test \\r \\n \\t \\\\ \\\" bar\"}\n"
        );
        assert_eq!(string("\u{1}é"), "\"\\u0001é\"");
    }

    #[test]
    fn integers_beyond_doubles_become_strings() {
        assert_eq!(value(&Value::Int(-5)), "-5");
        assert_eq!(value(&Value::Uint(1 << 53)), "9007199254740992");
        assert_eq!(value(&Value::Uint((1 << 53) + 1)), "\"9007199254740993\"");
        assert_eq!(value(&Value::Uint(u64::MAX)), "\"18446744073709551615\"");
        assert_eq!(value(&Value::Int(i64::MAX)), "\"9223372036854775807\"");
        assert_eq!(value(&Value::Int(i64::MIN)), "-9223372036854775808");
    }

    #[test]
    fn values_from_the_conformance_cases() {
        let tuple = Value::Tuple(vec![
            Value::Int(1),
            Value::Int(2),
            s("string"),
            Value::Tuple(vec![Value::Int(4), Value::Int(5)]),
        ]);
        assert_eq!(
            map("@", scalar(MapValue::Plain(tuple)), 0, 1).unwrap(),
            "{\"type\": \"map\", \"data\": {\"@\": [1,2,\"string\",[4,5]]}}\n"
        );
        let record = Value::Record(vec![
            ("a".to_string(), Value::Int(0)),
            ("c".to_string(), s("str")),
            (
                "e".to_string(),
                Value::Record(vec![("x".to_string(), Value::Int(1))]),
            ),
        ]);
        assert_eq!(
            value(&record),
            "{\"a\": 0, \"c\": \"str\", \"e\": {\"x\": 1}}"
        );
        assert_eq!(
            print_value(&Value::Tuple(vec![Value::Bool(true), Value::Bool(false)])),
            "{\"type\": \"value\", \"data\": [true,false]}\n"
        );
        assert_eq!(value(&Value::Pointer(0x32)), "50");
        let symbol = Value::Symbol {
            name: "FOO".to_string(),
            value: 333,
        };
        assert_eq!(value(&symbol), "333");
        assert_eq!(value(&Value::Buffer(vec![b'h', 0, 0xff])), "[104,0,-1]");
    }

    #[test]
    fn keys_lose_parentheses_and_spaces() {
        let key = Value::Tuple(vec![s("bpftrace"), Value::Int(2)]);
        let count = MapValue::Agg(Aggregate::Count(5));
        assert_eq!(
            map("@complex", vec![keyed(key, count)], 0, 1).unwrap(),
            "{\"type\": \"map\", \"data\": {\"@complex\": {\"bpftrace,2\": 5}}}\n"
        );
        assert_eq!(key_text(&s("a b")), "ab");
    }

    #[test]
    fn empty_maps_print_nothing() {
        assert_eq!(map("@", Vec::new(), 0, 1), None);
    }

    #[test]
    fn stats_and_avg_are_stats() {
        let stats = |count, total| {
            MapValue::Agg(Aggregate::Stats {
                count,
                total: Value::Int(total),
            })
        };
        assert_eq!(
            map("@s", scalar(stats(2, 12)), 0, 1).unwrap(),
            "{\"type\": \"stats\", \"data\": {\"@s\": {\"count\": 2, \"average\": 6, \"total\": 12}}}\n"
        );
        let avg = |n| {
            MapValue::Agg(Aggregate::Avg {
                count: 1,
                total: Value::Int(n),
            })
        };
        let entries = ["a", "b", "c", "d"]
            .iter()
            .zip([10, 20, 30, 40])
            .map(|(k, n)| keyed(s(k), avg(n)))
            .collect();
        assert_eq!(
            map("@", entries, 2, 10).unwrap(),
            "{\"type\": \"stats\", \"data\": {\"@\": {\"c\": 3, \"d\": 4}}}\n"
        );
    }

    #[test]
    fn log2_hist_buckets_are_closed_intervals() {
        let text = map("@hist", scalar(hist_of(&[2, 1025], 0)), 0, 1).unwrap();
        assert!(text.starts_with(
            "{\"type\": \"hist\", \"data\": {\"@hist\": [{\"min\": 2, \"max\": 3, \"count\": 1},{\"min\": 4, \"max\": 7, \"count\": 0},"
        ));
        assert!(text.ends_with("{\"min\": 1024, \"max\": 2047, \"count\": 1}]}}\n"));
        let text = map("@", scalar(hist_of(&[-1, 0, 511], 0)), 0, 1).unwrap();
        assert!(text.contains(
            "[{\"max\": -1, \"count\": 1},{\"min\": 0, \"max\": 0, \"count\": 1},{\"min\": 1, \"max\": 1, \"count\": 0},"
        ));
        let text = map("@", scalar(hist_of(&[10 << 30], 0)), 0, 1).unwrap();
        assert!(text.contains("[{\"min\": 8589934592, \"max\": 17179869183, \"count\": 1}]"));
        let text = map("@", scalar(hist_of(&[i64::MAX], 0)), 0, 1).unwrap();
        assert!(text.contains(
            "[{\"min\": 4611686018427387904, \"max\": \"9223372036854775807\", \"count\": 1}]"
        ));
    }

    #[test]
    fn log2_hist_with_bits_matches_bpftrace_hist_2args() {
        let values: Vec<i64> = (0..1024).collect();
        let text = map("@", scalar(hist_of(&values, 3)), 0, 1).unwrap();
        assert!(text.contains("{\"min\": 15, \"max\": 15, \"count\": 1}"));
        assert!(text.contains(
            "{\"min\": 16, \"max\": 17, \"count\": 2},{\"min\": 18, \"max\": 19, \"count\": 2}"
        ));
        assert!(text.ends_with("{\"min\": 960, \"max\": 1023, \"count\": 64}]}}\n"));
    }

    #[test]
    fn zeroed_hist_is_an_empty_array_and_top_keeps_the_largest() {
        let empty = MapValue::Agg(Aggregate::Hist {
            bits: 0,
            buckets: Vec::new(),
        });
        assert_eq!(
            map("@hist", scalar(empty), 0, 1).unwrap(),
            "{\"type\": \"hist\", \"data\": {\"@hist\": []}}\n"
        );
        let entries = vec![
            keyed(Value::Int(1), hist_of(&[10], 0)),
            keyed(Value::Int(2), hist_of(&[20], 0)),
            keyed(Value::Int(3), hist_of(&[30], 0)),
        ];
        assert_eq!(
            map("@", entries, 2, 1).unwrap(),
            "{\"type\": \"hist\", \"data\": {\"@\": {\"2\": [{\"min\": 16, \"max\": 31, \"count\": 1}], \"3\": [{\"min\": 16, \"max\": 31, \"count\": 1}]}}}\n"
        );
    }

    #[test]
    fn linear_hist_has_open_ends() {
        let text = map("@h", scalar(lhist_of(&[2, 50, 1000], 0, 100, 10)), 0, 1).unwrap();
        assert!(text.starts_with(
            "{\"type\": \"hist\", \"data\": {\"@h\": [{\"min\": 0, \"max\": 9, \"count\": 1},"
        ));
        assert!(text.ends_with(
            "{\"min\": 90, \"max\": 99, \"count\": 0},{\"min\": 100, \"count\": 1}]}}\n"
        ));
        let text = map("@h", scalar(lhist_of(&[-5], 0, 100, 10)), 0, 1).unwrap();
        assert!(text.contains("[{\"max\": -1, \"count\": 1}]"));
    }

    #[test]
    fn special_lines() {
        assert_eq!(
            attached_probes(1),
            "{\"type\": \"attached_probes\", \"count\": 1, \"data\": {\"probes\": 1}}\n"
        );
        assert_eq!(
            lost_events(3),
            "{\"type\": \"lost_events\", \"count\": 3, \"data\": {\"events\": 3}}\n"
        );
    }
}
