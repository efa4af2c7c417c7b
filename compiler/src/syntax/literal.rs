//! Values of integer and string literals, from the text the grammar matched.

use std::ops::Range;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntegerProblem {
    /// Not a number in any base: `0x`, `09`, `x1`.
    Invalid,
    /// Digits followed by something that is neither an exponent nor a known suffix: `12ab`.
    BadSuffix,
    /// A scientific literal whose coefficient is not a single digit 1-9: `12e3`.
    BadCoefficient,
    /// Does not fit in the literal's type (64 bits, or 32 for a `u` suffix).
    TooLarge { max: u64 },
}

/// Duration units, as bpftrace spells them, and their length in nanoseconds. Both duration
/// literals (`100ms`) and the timer probes' unit parts (`interval:ms:100`) read this table.
pub const DURATION_UNITS: [(&str, u64); 7] = [
    ("ns", 1),
    ("us", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("d", 86_400_000_000_000),
];

/// The nanoseconds in one `unit` of [`DURATION_UNITS`].
pub fn duration_unit(unit: &str) -> Option<u64> {
    DURATION_UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|&(_, ns)| ns)
}

/// An integer literal as bpftrace reads it (also in probe parts): `_` separators anywhere;
/// decimal `1000`, hexadecimal `0x1f`, binary `0b101` or, as in C, octal `017`; a scientific
/// `1e6` (coefficient 1-9); then an optional suffix: C's `u ul ull l ll` (ignored, `u` limits the
/// value to 32 bits) or a duration unit (`100ms`, the value in nanoseconds).
pub fn integer(text: &str) -> Result<u64, IntegerProblem> {
    let text: String = text.chars().filter(|&c| c != '_').collect();
    let (radix, body) =
        if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
            (16, hex)
        } else if let Some(bin) = text.strip_prefix("0b").or_else(|| text.strip_prefix("0B")) {
            (2, bin)
        } else if text.len() > 1 && text.starts_with('0') && text.as_bytes()[1].is_ascii_digit() {
            (8, &text[1..])
        } else {
            (10, text.as_str())
        };
    let digits_len = body
        .find(|c: char| !c.is_digit(radix))
        .unwrap_or(body.len());
    if digits_len == 0 {
        return Err(IntegerProblem::Invalid);
    }
    let (digits, mut rest) = body.split_at(digits_len);
    let too_large = IntegerProblem::TooLarge { max: u64::MAX };
    let mut value = u64::from_str_radix(digits, radix).map_err(|_| too_large)?;
    // An exponent: `e` then a digit 1-9 (bpftrace's rule; `1e0` is not scientific).
    if let Some(exponent) = rest.strip_prefix(['e', 'E'])
        && exponent.starts_with(|c: char| matches!(c, '1'..='9'))
    {
        if !(1..=9).contains(&value) {
            return Err(IntegerProblem::BadCoefficient);
        }
        let len = exponent
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(exponent.len());
        let power: u32 = exponent[..len].parse().map_err(|_| too_large)?;
        value = 10u64
            .checked_pow(power)
            .and_then(|p| p.checked_mul(value))
            .ok_or(too_large)?;
        rest = &exponent[len..];
    }
    let (max, scale) = match rest {
        "" | "ul" | "ull" | "l" | "ll" => (u64::MAX, 1),
        "u" => (u64::from(u32::MAX), 1),
        unit => (
            u64::MAX,
            duration_unit(unit).ok_or(IntegerProblem::BadSuffix)?,
        ),
    };
    if value > max / scale {
        return Err(IntegerProblem::TooLarge { max });
    }
    Ok(value * scale)
}

/// The bytes of a string literal's body (between the quotes), with escapes resolved:
/// `\n \t \r \\ \" \'`, octal `\0`..`\377` (one to three digits) and hex `\xNN` (one or two).
/// On a bad escape, returns its byte range within `body`.
pub fn string(body: &str) -> Result<Vec<u8>, Range<usize>> {
    let bytes = body.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let start = i;
        let Some(&escape) = bytes.get(i + 1) else {
            return Err(start..bytes.len());
        };
        i += 2;
        let simple = match escape {
            b'n' => Some(b'\n'),
            b't' => Some(b'\t'),
            b'r' => Some(b'\r'),
            b'\\' => Some(b'\\'),
            b'"' => Some(b'"'),
            b'\'' => Some(b'\''),
            _ => None,
        };
        if let Some(byte) = simple {
            out.push(byte);
        } else if escape.is_ascii_digit() && escape < b'8' {
            let digits_end = digits_end(bytes, start + 1, 3, 8);
            out.push(number(&body[start + 1..digits_end], 8).ok_or(start..digits_end)?);
            i = digits_end;
        } else if escape == b'x' {
            let digits_end = digits_end(bytes, start + 2, 2, 16);
            if digits_end == start + 2 {
                return Err(start..i);
            }
            out.push(number(&body[start + 2..digits_end], 16).ok_or(start..digits_end)?);
            i = digits_end;
        } else {
            // Keep whole characters: the escaped one may be more than one byte long.
            let end = body[start + 1..]
                .chars()
                .next()
                .map_or(start + 1, |c| start + 1 + c.len_utf8());
            return Err(start..end);
        }
    }
    Ok(out)
}

/// Where a run of at most `max` digits in `radix` starting at `from` ends.
fn digits_end(bytes: &[u8], from: usize, max: usize, radix: u32) -> usize {
    let mut end = from;
    while end < bytes.len() && end - from < max && (bytes[end] as char).is_digit(radix) {
        end += 1;
    }
    end
}

/// A byte's value written in `radix`; `None` when over 255 (`\777`).
fn number(digits: &str, radix: u32) -> Option<u8> {
    u8::try_from(u32::from_str_radix(digits, radix).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers() {
        assert_eq!(integer("0"), Ok(0));
        assert_eq!(integer("1_000"), Ok(1000));
        assert_eq!(integer("0x1f"), Ok(31));
        assert_eq!(integer("0XFF_FF"), Ok(0xffff));
        assert_eq!(integer("017"), Ok(15));
        assert_eq!(integer("18446744073709551615"), Ok(u64::MAX));
        let too_large = Err(IntegerProblem::TooLarge { max: u64::MAX });
        assert_eq!(integer("18446744073709551616"), too_large);
        assert_eq!(integer("0x1_0000_0000_0000_0000"), too_large);
        assert_eq!(integer("0x"), Err(IntegerProblem::Invalid));
        assert_eq!(integer("09"), Err(IntegerProblem::Invalid));
        assert_eq!(integer("12ab"), Err(IntegerProblem::BadSuffix));
        assert_eq!(integer("0b101"), Ok(5));
        assert_eq!(integer("1e6"), Ok(1_000_000));
        assert_eq!(integer("2E3"), Ok(2000));
        assert_eq!(integer("12e3"), Err(IntegerProblem::BadCoefficient));
        assert_eq!(integer("1e0"), Err(IntegerProblem::BadSuffix));
        assert_eq!(integer("1e20"), too_large);
        assert_eq!(integer("10ul"), Ok(10));
        assert_eq!(
            integer("4294967296u"),
            Err(IntegerProblem::TooLarge {
                max: u64::from(u32::MAX)
            })
        );
    }

    #[test]
    fn durations_are_nanoseconds() {
        assert_eq!(integer("10ns"), Ok(10));
        assert_eq!(integer("5us"), Ok(5_000));
        assert_eq!(integer("100ms"), Ok(100_000_000));
        assert_eq!(integer("1s"), Ok(1_000_000_000));
        assert_eq!(integer("2m"), Ok(120_000_000_000));
        assert_eq!(integer("1h"), Ok(3_600_000_000_000));
        assert_eq!(integer("1d"), Ok(86_400_000_000_000));
        assert_eq!(integer("1_000ms"), Ok(1_000_000_000));
        assert_eq!(integer("1e3us"), Ok(1_000_000));
        assert_eq!(integer("0x1d"), Ok(29));
        assert_eq!(integer("5sec"), Err(IntegerProblem::BadSuffix));
        assert_eq!(
            integer("300000d"),
            Err(IntegerProblem::TooLarge { max: u64::MAX })
        );
    }

    #[test]
    fn strings() {
        assert_eq!(string("a\\nb\\t\\\\\\\""), Ok(b"a\nb\t\\\"".to_vec()));
        assert_eq!(string("\\0"), Ok(vec![0]));
        assert_eq!(string("\\012x"), Ok(b"\nx".to_vec()));
        assert_eq!(string("\\x41\\x4g"), Ok(b"A\x04g".to_vec()));
        assert_eq!(string("é"), Ok("é".as_bytes().to_vec()));
        assert_eq!(string("a\\q"), Err(1..3));
        assert_eq!(string("\\xg"), Err(0..2));
        assert_eq!(string("\\777"), Err(0..4));
        assert_eq!(string("\\é"), Err(0..3));
    }
}
