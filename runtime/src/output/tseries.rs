//! tseries(): the graph bpftrace prints for a time series (bpftrace `src/output/text.cpp`
//! TextEmitter<TimeSeries>) and the interval times of its JSON form.

use super::Value;
use crate::render;

const GRAPH_WIDTH: usize = 53;
/// Width of the minimum printed above and below the graph; the maximum fills the rest.
const PADDING: usize = 21;

fn number(v: &Value) -> i128 {
    match v {
        Value::Int(n) => i128::from(*n),
        Value::Uint(n) => i128::from(*n),
        _ => 0,
    }
}

/// One below `v`, when its type has room (bpftrace's try_dec).
fn less(v: &Value) -> Value {
    match v {
        Value::Uint(n) if *n > 0 => Value::Uint(n - 1),
        Value::Int(n) if *n > i64::MIN => Value::Int(n - 1),
        other => other.clone(),
    }
}

fn more(v: &Value) -> Value {
    match v {
        Value::Uint(n) if *n < u64::MAX => Value::Uint(n + 1),
        Value::Int(n) if *n < i64::MAX => Value::Int(n + 1),
        other => other.clone(),
    }
}

/// `a - b` as bpftrace's `distance` computes it: a signed 64-bit difference, then a float.
fn distance(a: &Value, b: &Value) -> f32 {
    (number(a) - number(b)) as i64 as f32
}

/// Where bpftrace's time column ends: `hh:mm:ss`, then the fraction of a second the interval
/// needs (its unit name and digits).
fn time_unit(interval_ns: u64) -> Option<(&'static str, usize)> {
    match interval_ns {
        1_000_000_000.. => None,
        1_000_000.. => Some(("ms", 3)),
        1_000.. => Some(("μs", 6)),
        _ => Some(("ns", 9)),
    }
}

/// `text` padded with spaces to `width` bytes (C++'s setw counts bytes, `μ` is two).
fn pad_right(text: &str, width: usize) -> String {
    format!("{text}{}", " ".repeat(width.saturating_sub(text.len())))
}

/// Local wall-clock `HH:MM:SS` of `ns`, with the fraction of `digits` digits.
fn clock_time(ns: u64, digits: usize) -> String {
    let mut text = render::strftime("%H:%M:%S", i128::from(ns));
    if digits > 0 {
        let frac = ns % 1_000_000_000 / 10u64.pow(9 - digits as u32);
        text.push_str(&format!(".{frac:0digits$}"));
    }
    text
}

/// The graph of one time series, ending in a newline, or `<no data>` (no newline) when it has
/// no intervals. Each line is an interval: its start time, a `*` between the minimum and the
/// maximum (a `.` marks zero when the range crosses it), the value or `-` when none was recorded.
pub fn write_graph(out: &mut String, points: &[(u64, Option<Value>)]) {
    let Some(first) = points.first() else {
        out.push_str("<no data>");
        return;
    };
    // bpftrace starts both bounds at the first interval's value.
    let start = first.1.clone().unwrap_or(Value::None);
    let (mut min, mut max) = (start.clone(), start);
    for v in points.iter().filter_map(|(_, v)| v.as_ref()) {
        if matches!(min, Value::None) || number(v) < number(&min) {
            min = v.clone();
        }
        if matches!(max, Value::None) || number(v) > number(&max) {
            max = v.clone();
        }
    }
    if min == max {
        min = less(&min);
        max = more(&max);
    }
    let interval = (points[points.len() - 1].0 - first.0) / (points.len() as u64 - 1).max(1);
    let unit = time_unit(interval);
    let (time_format, time_size) = match unit {
        Some((name, digits)) => (format!("hh:mm:ss.{name}"), 8 + 1 + digits),
        None => ("hh:mm:ss".to_string(), 8),
    };
    let bounds = format!(
        "{:<PADDING$}{:>width$}\n",
        min.to_string(),
        max.to_string(),
        width = GRAPH_WIDTH - PADDING
    );
    out.push_str(&" ".repeat(time_size + 1));
    out.push_str(&bounds);
    out.push_str(&pad_right(&time_format, time_size + 1));
    out.push_str(&format!("|{}|\n", "_".repeat(GRAPH_WIDTH - 2)));

    let crosses_zero = number(&min) < 0 && number(&max) > 0;
    let zero_at = if crosses_zero {
        (GRAPH_WIDTH as f32 * distance(&min, &Value::Int(0)) / distance(&min, &max)) as i32
    } else {
        0
    };
    for (ns, v) in points {
        out.push_str(&clock_time(*ns, unit.map_or(0, |u| u.1)));
        out.push(' ');
        let mut line = vec![b' '; GRAPH_WIDTH];
        line[0] = b'|';
        line[GRAPH_WIDTH - 1] = b'|';
        if zero_at > 0 {
            line[zero_at as usize] = b'.';
        }
        match v {
            Some(v) => {
                let at = if min == max {
                    (GRAPH_WIDTH / 2) as i32
                } else {
                    ((GRAPH_WIDTH - 1) as f32 * distance(v, &min) / distance(&max, &min)) as i32
                };
                line[at.clamp(0, GRAPH_WIDTH as i32 - 1) as usize] = b'*';
                out.push_str(&format!("{} {v}\n", String::from_utf8_lossy(&line)));
            }
            None => out.push_str(&format!("{} -\n", String::from_utf8_lossy(&line))),
        }
    }
    out.push_str(&" ".repeat(time_size));
    out.push_str(&format!(" v{}v\n", "_".repeat(GRAPH_WIDTH - 2)));
    out.push_str(&" ".repeat(time_size + 1));
    out.push_str(&bounds);
}

/// An interval's start in JSON: UTC `YYYY-MM-DD HH:MM:SS.nnnnnnnnn` (C++'s default form of a
/// system-clock time).
pub fn utc_time(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:09}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ns % 1_000_000_000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_times() {
        assert_eq!(utc_time(500_000_000), "1970-01-01 00:00:00.500000000");
        assert_eq!(
            utc_time(1_709_251_199_000_000_001),
            "2024-02-29 23:59:59.000000001"
        );
    }

    /// bpftrace's own expected output (tests/runtime/outputs/tseries_zigzag.txt), its hours
    /// those of the local time zone.
    #[test]
    fn zigzag_graph_like_bpftrace() {
        let values = [
            -5i64, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 4, 3, 2, 1, 0, -1, -2, -3, -4,
        ];
        let points: Vec<(u64, Option<Value>)> = values
            .iter()
            .enumerate()
            .map(|(i, &v)| ((i as u64 + 1) * 100_000_000, Some(Value::Int(v))))
            .collect();
        let mut out = String::new();
        write_graph(&mut out, &points);
        let hour = render::strftime("%H", 0);
        let file = include_str!("tseries_zigzag.txt").replace("%H", &hour);
        let (header, graph) = file.split_once('\n').unwrap();
        assert_eq!(header, "@:");
        assert_eq!(out, graph);
    }

    #[test]
    fn flat_series_and_missing_intervals() {
        let points = vec![
            (500_000_000, Some(Value::Uint(9))),
            (600_000_000, None),
            (700_000_000, Some(Value::Uint(9))),
        ];
        let mut out = String::new();
        write_graph(&mut out, &points);
        let lines: Vec<&str> = out.lines().collect();
        // Equal values: the bounds are widened by one and the points sit in the middle.
        assert_eq!(lines[0].trim(), format!("8{}10", " ".repeat(50)));
        assert!(lines[2].ends_with(&format!("|{}*{}| 9", " ".repeat(25), " ".repeat(25))));
        assert!(lines[3].ends_with(&format!("|{}| -", " ".repeat(51))));
        assert_eq!(lines.len(), 7);
        let mut none = String::new();
        write_graph(&mut none, &[]);
        assert_eq!(none, "<no data>");
    }
}
