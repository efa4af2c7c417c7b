//! hist() and lhist(): the bucket index the BPF program computes, and the ASCII table bpftrace
//! prints (bpftrace `src/types_format.cpp` build_histogram / build_linear_histogram and
//! `src/output/text.cpp` TextEmitter<Histogram>).

use std::fmt::Write;

/// The log2 bucket of `value` for `hist(value, bits)`, as bpftrace's codegen computes it
/// (`createLog2Function`). With `mask = 2^bits - 1`:
/// - `value < 0` -> 0 (printed `(..., 0)`);
/// - `0 <= value <= mask` -> `value + 1` (one bucket per value: `[0]`, `[1]`, ...);
/// - otherwise, with `l = floor(log2(value))` and `x` the `bits` bits that follow the leading 1:
///   `((l - bits + 1) << bits) + x + 1`, so each power of two is split into `2^bits` buckets.
///
/// For bits = 0 this is 0 for negatives, 1 for 0, 2 for 1, 3 for [2, 4), 4 for [4, 8), ...
#[cfg(test)]
pub fn hist_bucket(value: i64, bits: u8) -> usize {
    assert!(bits <= 5, "bug: hist bits {bits} out of 0..=5");
    if value < 0 {
        return 0;
    }
    let value = value as u64;
    let bits = u32::from(bits);
    let mask = (1u64 << bits) - 1;
    if value <= mask {
        return value as usize + 1;
    }
    let leading = 63 - value.leading_zeros();
    let shift = leading - bits;
    let x = (value >> shift) & mask;
    ((((shift + 1) as u64) << bits) + x + 1) as usize
}

/// How many buckets hist(n, bits) can fill: bucket 0 (negatives) up to the bucket of i64::MAX,
/// `(64 - bits) * 2^bits + 1` (65 for bits = 0, 1889 for bits = 5).
#[cfg(test)]
pub fn hist_bucket_count(bits: u8) -> usize {
    assert!(bits <= 5, "bug: hist bits {bits} out of 0..=5");
    (64 - usize::from(bits)) * (1 << bits) + 1
}

/// The bucket of `value` for `lhist(value, min, max, step)`, as bpftrace's codegen computes it
/// (`createLinearFunction`): 0 below `min`, then `1 + (value - min) / step`; values above `max`
/// share the last bucket `1 + (max - min) / step` (which `max` itself also lands in when
/// `(max - min)` is a multiple of `step`). The divisions are unsigned.
#[cfg(test)]
pub fn lhist_bucket(value: i64, min: i64, max: i64, step: i64) -> usize {
    assert!(step > 0, "bug: lhist step {step} must be positive");
    if value < min {
        return 0;
    }
    let value = value.min(max);
    1 + (value.wrapping_sub(min) as u64 / step as u64) as usize
}

/// How many buckets lhist(n, min, max, step) has: under, one per step, over:
/// `(max - min) / step + 2`.
#[cfg(test)]
pub fn lhist_bucket_count(min: i64, max: i64, step: i64) -> usize {
    assert!(step > 0, "bug: lhist step {step} must be positive");
    lhist_bucket(max, min, max, step) + 1
}

/// A bucket boundary. bpftrace prints a bucket `[a, b)` as `[a]` when both ends are plain
/// integers one apart, so it matters whether a label is a plain number or a suffixed one.
#[derive(Clone, Debug, PartialEq)]
struct Label {
    text: String,
    /// The number for a plain integer label; None for a symbolic one (`1K`, or any lhist label
    /// when the step is a multiple of 1024).
    plain: Option<i64>,
}

impl Label {
    fn plain(n: i64) -> Label {
        Label {
            text: n.to_string(),
            plain: Some(n),
        }
    }

    fn symbolic(text: String) -> Label {
        Label { text, plain: None }
    }

    fn is_just_before(&self, next: &Label) -> bool {
        matches!((self.plain, next.plain), (Some(a), Some(b)) if a.checked_add(1) == Some(b))
    }
}

/// The rows of a histogram between its lowest and highest non-empty bucket. `labels[i]` is the
/// upper end of row i (the last row has none when it is the overflow bucket of an lhist);
/// `lower_bound` is the lower end of row 0 (None: row 0 is the unbounded `(..., x)` bucket).
struct Table {
    lower_bound: Option<Label>,
    labels: Vec<Label>,
    counts: Vec<u64>,
}

/// The first and last buckets that hold something, or None if all are empty.
fn filled_range(buckets: &[u64]) -> Option<(usize, usize)> {
    let first = buckets.iter().position(|&n| n > 0)?;
    let last = buckets.iter().rposition(|&n| n > 0)?;
    Some((first, last))
}

/// The upper end of log2 bucket `index` (from bits+1 powers of two on): `(2^p) * (2^k + j)`
/// printed with a power-of-1024 suffix, where p = (index >> k) - 1 and j = index & (2^k - 1).
fn log2_label(index: usize, bits: u8) -> Label {
    let n = 1u64 << bits;
    let interval = index as u64 & (n - 1);
    let power = (index >> bits) as u32 - 1;
    let decade = power / 10;
    let suffix = ["", "K", "M", "G", "T", "P", "E"][decade as usize];
    let mantissa = (1u64 << (power - 10 * decade)) * (n + interval);
    Label::symbolic(format!("{mantissa}{suffix}"))
}

fn log2_index_label(index: usize, bits: u8) -> Label {
    if index <= (2 << bits) {
        Label::plain(index as i64)
    } else {
        log2_label(index, bits)
    }
}

fn log2_table(buckets: &[u64], bits: u8, div: u64) -> Table {
    let mut table = Table {
        lower_bound: None,
        labels: Vec::new(),
        counts: Vec::new(),
    };
    let Some((first, last)) = filled_range(buckets) else {
        return table;
    };
    if first != 0 {
        table.lower_bound = Some(log2_index_label(first - 1, bits));
    }
    for (index, &count) in buckets.iter().enumerate().take(last + 1).skip(first) {
        // Bucket 0 (negatives) ends at 0; buckets 1..=2^(k+1) hold one value each.
        let label = if index == 0 {
            Label::plain(0)
        } else {
            log2_index_label(index, bits)
        };
        table.labels.push(label);
        table.counts.push(count / div);
    }
    table
}

/// lhist labels get K/M suffixes only when the step is a multiple of 1024.
fn linear_label(number: i64, step: i64) -> Label {
    const KILO: i64 = 1024;
    const MEGA: i64 = 1024 * 1024;
    if step % KILO != 0 {
        return Label::plain(number);
    }
    let text = if number == 0 {
        "0".to_string()
    } else if number % MEGA == 0 {
        format!("{}M", number / MEGA)
    } else if number % KILO == 0 {
        format!("{}K", number / KILO)
    } else {
        number.to_string()
    };
    Label::symbolic(text)
}

fn linear_table(buckets: &[u64], min: i64, max: i64, step: i64) -> Table {
    let mut table = Table {
        lower_bound: None,
        labels: Vec::new(),
        counts: Vec::new(),
    };
    let Some((first, last)) = filled_range(buckets) else {
        return table;
    };
    if first != 0 {
        table.lower_bound = Some(linear_label(min + (first as i64 - 1) * step, step));
    }
    for (index, &count) in buckets.iter().enumerate().take(last + 1).skip(first) {
        // The overflow bucket has no upper label.
        let upper = min + index as i64 * step;
        if upper <= max {
            table.labels.push(linear_label(upper, step));
        }
        table.counts.push(count);
    }
    table
}

fn row_header(table: &Table, row: usize) -> String {
    let range = |low: &Label, high: Option<&Label>| match high {
        None => format!("[{}, ...)", low.text),
        Some(high) if low.is_just_before(high) => format!("[{}]", low.text),
        Some(high) => format!("[{}, {})", low.text, high.text),
    };
    if row == 0 {
        match &table.lower_bound {
            None => format!("(..., {})", table.labels[0].text),
            Some(low) => range(low, table.labels.first()),
        }
    } else {
        range(&table.labels[row - 1], table.labels.get(row))
    }
}

fn write_table(out: &mut String, table: &Table) {
    const BAR_WIDTH: usize = 52;
    let max_count = table.counts.iter().copied().max().unwrap_or(0);
    for (row, &count) in table.counts.iter().enumerate() {
        // bpftrace scales in single precision and truncates.
        let bar_len = if max_count == 0 {
            0
        } else {
            ((count as f32 / max_count as f32) * BAR_WIDTH as f32) as usize
        };
        let header = row_header(table, row);
        let bar = "@".repeat(bar_len);
        writeln!(out, "{header:<16}{count:>8} |{bar:<BAR_WIDTH$}|").unwrap();
    }
}

/// Appends the table of hist(n, bits) counts (`buckets[i]` = count of bucket i), each count
/// divided by `div` (print's third argument). Nothing when all buckets are empty.
pub(crate) fn write_log2(out: &mut String, buckets: &[u64], bits: u8, div: u64) {
    write_table(out, &log2_table(buckets, bits, div));
}

/// Appends the table of lhist(n, min, max, step) counts. print's `div` does not apply to lhist.
pub(crate) fn write_linear(out: &mut String, buckets: &[u64], min: i64, max: i64, step: i64) {
    write_table(out, &linear_table(buckets, min, max, step));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log2_text(values: &[i64], bits: u8) -> String {
        let mut buckets = vec![0; hist_bucket_count(bits)];
        for &v in values {
            buckets[hist_bucket(v, bits)] += 1;
        }
        let mut out = String::new();
        write_log2(&mut out, &buckets, bits, 1);
        out
    }

    fn linear_text(values: &[i64], min: i64, max: i64, step: i64) -> String {
        let mut buckets = vec![0; lhist_bucket_count(min, max, step)];
        for &v in values {
            buckets[lhist_bucket(v, min, max, step)] += 1;
        }
        let mut out = String::new();
        write_linear(&mut out, &buckets, min, max, step);
        out
    }

    fn headers(text: &str) -> Vec<&str> {
        text.lines().map(|l| l[..16].trim_end()).collect()
    }

    #[test]
    fn log2_buckets_bits_0() {
        let got: Vec<usize> = [-5, -1, 0, 1, 2, 3, 4, 7, 8, 1023, 1024]
            .iter()
            .map(|&v| hist_bucket(v, 0))
            .collect();
        assert_eq!(got, [0, 0, 1, 2, 3, 3, 4, 4, 5, 11, 12]);
        assert_eq!(hist_bucket(i64::MAX, 0), 64);
        assert_eq!(hist_bucket(i64::MIN, 0), 0);
    }

    #[test]
    fn log2_buckets_bits_1_and_2() {
        let got: Vec<usize> = (0..10).map(|v| hist_bucket(v, 1)).collect();
        assert_eq!(got, [1, 2, 3, 4, 5, 5, 6, 6, 7, 7]);
        let got: Vec<usize> = (0..14).map(|v| hist_bucket(v, 2)).collect();
        assert_eq!(got, [1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 10, 10, 11, 11]);
    }

    #[test]
    fn log2_bucket_counts_cover_i64_max() {
        for bits in 0..=5 {
            assert_eq!(hist_bucket(i64::MAX, bits) + 1, hist_bucket_count(bits));
        }
        assert_eq!(hist_bucket_count(0), 65);
        assert_eq!(hist_bucket_count(5), 1889);
    }

    #[test]
    fn log2_reference_output() {
        // bpftrace tests/runtime/outputs/hist.txt
        let expected = "\
(..., 0)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[0]                    0 |                                                    |
[1]                    0 |                                                    |
[2, 4)                 2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[4, 8)                 1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[8, 16)                0 |                                                    |
[16, 32)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
";
        assert_eq!(log2_text(&[-1, 2, 3, 7, 20], 0), expected);
    }

    #[test]
    fn log2_two_values() {
        // bpftrace tests/runtime/outputs/hist_2_values.txt
        let expected = "\
[2, 4)                 1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[4, 8)                 0 |                                                    |
[8, 16)                0 |                                                    |
[16, 32)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
";
        assert_eq!(log2_text(&[3, 20], 0), expected);
    }

    #[test]
    fn log2_first_row_single_values() {
        assert_eq!(headers(&log2_text(&[0], 0)), ["[0]"]);
        assert_eq!(headers(&log2_text(&[1, 2], 0)), ["[1]", "[2, 4)"]);
    }

    #[test]
    fn log2_suffixes() {
        assert_eq!(
            headers(&log2_text(&[600, 1024, 1500, 1 << 20], 0))[..3],
            ["[512, 1K)", "[1K, 2K)", "[2K, 4K)"]
        );
        let text = log2_text(&[1 << 20, (1 << 21) - 1], 0);
        assert_eq!(headers(&text), ["[1M, 2M)"]);
        assert_eq!(headers(&log2_text(&[i64::MAX], 0)), ["[4E, 8E)"]);
        // 10 GiB: bpftrace tests/runtime/outputs/hist_10g.json has min 8589934592 (8G).
        assert_eq!(headers(&log2_text(&[10 << 30], 0)), ["[8G, 16G)"]);
    }

    #[test]
    fn log2_bits_1() {
        let text = log2_text(&[0, 1, 2, 3, 4, 5, 6, 8], 1);
        assert_eq!(
            headers(&text),
            ["[0]", "[1]", "[2]", "[3]", "[4, 6)", "[6, 8)", "[8, 12)"]
        );
    }

    #[test]
    fn log2_bits_2() {
        let text = log2_text(&[7, 8, 9, 10, 12, 14, 16], 2);
        assert_eq!(
            headers(&text),
            [
                "[7]", "[8, 10)", "[10, 12)", "[12, 14)", "[14, 16)", "[16, 20)"
            ]
        );
    }

    #[test]
    fn log2_bits_3_matches_bpftrace_hist_2args() {
        // bpftrace tests/runtime/outputs/hist_2args.json: hist($i, 3) for $i in 0..1024.
        let values: Vec<i64> = (0..1024).collect();
        let text = log2_text(&values, 3);
        let counts: Vec<u64> = text
            .lines()
            .map(|l| l[16..24].trim().parse().unwrap())
            .collect();
        let mut expected = vec![1; 16];
        for power in 1..=6 {
            expected.extend([1 << power; 8]);
        }
        assert_eq!(counts, expected);
        let rows = headers(&text);
        assert_eq!(rows[15], "[15]");
        assert_eq!(rows[16], "[16, 18)");
        assert_eq!(rows[24], "[32, 36)");
        // bpftrace picks the suffix from the power of two (2^7 * 8 here), not from the value.
        assert_eq!(rows[63], "[960, 1024)");
    }

    #[test]
    fn log2_empty_prints_nothing() {
        assert_eq!(log2_text(&[], 0), "");
    }

    #[test]
    fn log2_div_divides_counts() {
        let mut buckets = vec![0; hist_bucket_count(0)];
        buckets[hist_bucket(3, 0)] = 25;
        buckets[hist_bucket(5, 0)] = 5;
        let mut out = String::new();
        write_log2(&mut out, &buckets, 0, 10);
        assert_eq!(
            out,
            "\
[2, 4)                 2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[4, 8)                 0 |                                                    |
"
        );
    }

    #[test]
    fn linear_buckets() {
        let got: Vec<usize> = [-1, 0, 1, 2, 9, 10, 11, 1000]
            .iter()
            .map(|&v| lhist_bucket(v, 0, 10, 2))
            .collect();
        assert_eq!(got, [0, 1, 1, 2, 5, 6, 6, 6]);
        assert_eq!(lhist_bucket_count(0, 10, 2), 7);
        assert_eq!(lhist_bucket_count(0, 10, 3), 5);
        assert_eq!(lhist_bucket(i64::MIN, -5, 5, 1), 0);
        assert_eq!(lhist_bucket(i64::MAX, -5, 5, 1), 11);
    }

    #[test]
    fn linear_reference_output() {
        // bpftrace tests/runtime/outputs/lhist.txt
        let expected = "\
(..., 0)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[0, 2)                 0 |                                                    |
[2, 4)                 2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[4, 6)                 0 |                                                    |
[6, 8)                 1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[8, 10)                0 |                                                    |
[10, ...)              1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
";
        assert_eq!(linear_text(&[2, 3, 7, -1, 11], 0, 10, 2), expected);
    }

    #[test]
    fn linear_overflow_only_and_inner_start() {
        assert_eq!(headers(&linear_text(&[50], 0, 10, 2)), ["[10, ...)"]);
        assert_eq!(
            headers(&linear_text(&[4, 6], 0, 10, 2)),
            ["[4, 6)", "[6, 8)"]
        );
    }

    #[test]
    fn linear_step_1_prints_single_values() {
        assert_eq!(
            headers(&linear_text(&[0, 2, 5], 0, 5, 1)),
            ["[0]", "[1]", "[2]", "[3]", "[4]", "[5, ...)"]
        );
    }

    #[test]
    fn linear_suffixes_when_step_is_kilo() {
        let text = linear_text(&[0, 1500, 1 << 20], 0, 1 << 20, 1024);
        let rows = headers(&text);
        assert_eq!(rows[0], "[0, 1K)");
        assert_eq!(rows[1], "[1K, 2K)");
        assert_eq!(rows.last().unwrap(), &"[1M, ...)");
        // Not a multiple of 1024: plain numbers.
        assert_eq!(
            headers(&linear_text(&[1500], 0, 10000, 1000)),
            ["[1000, 2000)"]
        );
    }

    #[test]
    fn linear_negative_range() {
        assert_eq!(
            headers(&linear_text(&[-10, -3, 4], -5, 5, 5)),
            ["(..., -5)", "[-5, 0)", "[0, 5)"]
        );
    }
}
