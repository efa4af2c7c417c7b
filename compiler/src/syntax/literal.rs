//! Values of integer and string literals, from the text the grammar matched.

use std::ops::Range;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntegerProblem {
    /// Not a number in any base: `12ab`, `0x`, `09`.
    Invalid,
    /// Does not fit in 64 bits.
    TooLarge,
}

/// Decimal `1_000`, hexadecimal `0x1f` or, as in C and bpftrace, octal `017`.
pub fn integer(text: &str) -> Result<u64, IntegerProblem> {
    let digits: String = text.chars().filter(|&c| c != '_').collect();
    let (radix, digits) = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        (16, hex)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits.as_str())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(IntegerProblem::Invalid);
    }
    u64::from_str_radix(digits, radix).map_err(|_| IntegerProblem::TooLarge)
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
        assert_eq!(
            integer("18446744073709551616"),
            Err(IntegerProblem::TooLarge)
        );
        assert_eq!(
            integer("0x1_0000_0000_0000_0000"),
            Err(IntegerProblem::TooLarge)
        );
        assert_eq!(integer("0x"), Err(IntegerProblem::Invalid));
        assert_eq!(integer("09"), Err(IntegerProblem::Invalid));
        assert_eq!(integer("12ab"), Err(IntegerProblem::Invalid));
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
