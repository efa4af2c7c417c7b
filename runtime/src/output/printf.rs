//! printf format strings as bpftrace 0.26 handles them (`src/format_string.cpp`).
//!
//! The parser (the first half) knows nothing of runtime values, so the compiler can use it to
//! check a format at compile time; [`format_printf`] renders parsed pieces with decoded values.
//!
//! Kept from bpftrace, which its runtime tests check:
//! - without a length modifier `%d %i` print the low 32 bits as signed, `%u %x %X %o` as
//!   unsigned; `hh` keeps 8 bits, `h` 16, `l ll j z t` all 64 (`%x` of -1 is `ffffffff`,
//!   `%lx` is `ffffffffffffffff`);
//! - `%p` prints `0x` and lowercase hex of all 64 bits, but `0` for a null pointer;
//! - a value that cannot be converted prints `!{error}` in place of the conversion.
//!
//! Where bpftrace 0.26 renders through a C++ iostream by accident of implementation, C's rules
//! are used instead, as bpftrace's own tools expect (`tools/tcplife.bt` has `%-10.10s`): the
//! precision cuts strings and sets the minimum digits of integers, `0` pads after the sign or
//! `0x` (`%05d` of -5 is `-0005`, where bpftrace 0.26 prints `000-5`), `-` wins over `0`, and the
//! space flag puts a space before non-negative signed numbers.

use super::{Value, buffer_text};
use rbt_compiler::printf::{ConvKind, Conversion, Length, Piece, argument_count};
#[cfg(test)]
use rbt_compiler::printf::{Flags, FormatError, parse_format};

/// The bits of an integer-like argument, or None for strings, tuples and the like.
fn integer_bits(v: &Value) -> Option<i64> {
    match v {
        Value::Int(n) => Some(*n),
        Value::Uint(n) => Some(*n as i64),
        Value::Bool(b) => Some(i64::from(*b)),
        Value::Pointer(p) => Some(*p as i64),
        Value::Symbol { value, .. } => Some(*value),
        _ => None,
    }
}

/// A rendered conversion before padding: zero padding goes between `prefix` (sign, `0x`) and
/// `body`, as in C.
struct Rendered {
    prefix: &'static str,
    body: String,
    numeric: bool,
}

impl Rendered {
    fn text(body: String) -> Rendered {
        Rendered {
            prefix: "",
            body,
            numeric: false,
        }
    }
}

/// Digits with C's precision: at least `precision` digits, none at all for 0 with precision 0.
fn with_precision(digits: String, precision: Option<usize>) -> String {
    match precision {
        Some(0) if digits == "0" => String::new(),
        Some(p) if p > digits.len() => "0".repeat(p - digits.len()) + &digits,
        _ => digits,
    }
}

fn signed(n: i64, conv: &Conversion) -> Rendered {
    let n = match conv.length {
        Length::Int => i64::from(n as i32),
        Length::Char => i64::from(n as i8),
        Length::Short => i64::from(n as i16),
        Length::Long => n,
    };
    let prefix = if n < 0 {
        "-"
    } else if conv.flags.plus {
        "+"
    } else if conv.flags.space {
        " "
    } else {
        ""
    };
    Rendered {
        prefix,
        body: with_precision(n.unsigned_abs().to_string(), conv.precision),
        numeric: true,
    }
}

fn unsigned(n: i64, conv: &Conversion) -> Rendered {
    let n = match conv.length {
        Length::Int => u64::from(n as u32),
        Length::Char => u64::from(n as u8),
        Length::Short => u64::from(n as u16),
        Length::Long => n as u64,
    };
    let digits = match conv.kind {
        ConvKind::Octal => format!("{n:o}"),
        ConvKind::Hex => format!("{n:x}"),
        ConvKind::HexUpper => format!("{n:X}"),
        _ => n.to_string(),
    };
    let mut body = with_precision(digits, conv.precision);
    let mut prefix = "";
    if conv.flags.alternate {
        match conv.kind {
            ConvKind::Octal if !body.starts_with('0') => body.insert(0, '0'),
            ConvKind::Hex if n != 0 => prefix = "0x",
            ConvKind::HexUpper if n != 0 => prefix = "0X",
            _ => {}
        }
    }
    Rendered {
        prefix,
        body,
        numeric: true,
    }
}

/// At most `max` bytes of `text`, cut at a character boundary.
fn truncated(mut text: String, max: Option<usize>) -> String {
    if let Some(max) = max.filter(|&max| max < text.len()) {
        let cut = (0..=max).rev().find(|&i| text.is_char_boundary(i)).unwrap();
        text.truncate(cut);
    }
    text
}

/// One conversion before padding, or the message bpftrace embeds as `!{...}`.
fn render(conv: &Conversion, arg: &Value) -> Result<Rendered, String> {
    let integer = || integer_bits(arg).ok_or_else(|| format!("invalid integer conversion: {arg}"));
    let rendered = match conv.kind {
        ConvKind::Signed => signed(integer()?, conv),
        ConvKind::Unsigned | ConvKind::Octal | ConvKind::Hex | ConvKind::HexUpper => {
            unsigned(integer()?, conv)
        }
        ConvKind::Char => {
            // A string holds only text: a byte above ASCII cannot be written as itself.
            let byte = integer()? as u8;
            let c = if byte.is_ascii() {
                char::from(byte)
            } else {
                char::REPLACEMENT_CHARACTER
            };
            Rendered::text(c.to_string())
        }
        // bpftrace prints a null pointer as `0`, others as `0x` and lowercase hex.
        ConvKind::Pointer => match integer()? as u64 {
            0 => Rendered::text("0".to_string()),
            p => Rendered {
                prefix: "0x",
                body: format!("{p:x}"),
                numeric: true,
            },
        },
        ConvKind::Str => Rendered::text(truncated(arg.to_string(), conv.precision)),
        ConvKind::Buffer | ConvKind::BufferHex | ConvKind::BufferHexSpaced => {
            let text = match arg {
                Value::Buffer(bytes) => {
                    let keep_ascii = conv.kind == ConvKind::Buffer;
                    let escape_hex = conv.kind != ConvKind::BufferHexSpaced;
                    buffer_text(bytes, keep_ascii, escape_hex)
                }
                other => other.to_string(),
            };
            Rendered::text(text)
        }
    };
    Ok(rendered)
}

/// Pads to the width as C does: spaces on the left, on the right with `-`, or zeros after the
/// sign or `0x` with `0` (ignored for numbers given a precision).
fn pad(rendered: Rendered, conv: &Conversion) -> String {
    let Rendered {
        prefix,
        body,
        numeric,
    } = rendered;
    let missing = conv.width.saturating_sub(prefix.len() + body.len());
    if conv.flags.left {
        format!("{prefix}{body}{}", " ".repeat(missing))
    } else if conv.flags.zero && !(numeric && conv.precision.is_some()) {
        format!("{prefix}{}{body}", "0".repeat(missing))
    } else {
        format!("{}{prefix}{body}", " ".repeat(missing))
    }
}

/// Renders a parsed format with one argument per conversion (checked by the compiler: a
/// mismatch is a bug).
pub fn format_printf(pieces: &[Piece], args: &[Value]) -> String {
    assert_eq!(
        argument_count(pieces),
        args.len(),
        "bug: printf argument count does not match its format"
    );
    let mut out = String::new();
    let mut args = args.iter();
    for piece in pieces {
        match piece {
            Piece::Literal(text) => out.push_str(text),
            Piece::Conv(conv) => {
                let arg = args.next().unwrap();
                match render(conv, arg) {
                    Ok(rendered) => out.push_str(&pad(rendered, conv)),
                    Err(message) => out.push_str(&format!("!{{{message}}}")),
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printf(fmt: &str, args: &[Value]) -> String {
        let pieces = parse_format(fmt).unwrap_or_else(|e| panic!("{fmt:?}: {e:?}"));
        format_printf(&pieces, args)
    }

    fn int(n: i64) -> Value {
        Value::Int(n)
    }

    fn s(text: &str) -> Value {
        Value::Str(text.to_string())
    }

    fn parse_error(fmt: &str) -> FormatError {
        parse_format(fmt).unwrap_err()
    }

    #[test]
    fn literals_and_percent() {
        assert_eq!(printf("hello\n", &[]), "hello\n");
        assert_eq!(printf("100%% done %%%d", &[int(5)]), "100% done %5");
        assert_eq!(
            parse_format("a%%b").unwrap(),
            [Piece::Literal("a%b".to_string())]
        );
        assert_eq!(parse_format("").unwrap(), []);
    }

    #[test]
    fn decimal() {
        assert_eq!(printf("a=%d\n", &[int(20)]), "a=20\n");
        assert_eq!(printf("%i %d", &[int(-7), Value::Uint(3)]), "-7 3");
        assert_eq!(printf("%d", &[Value::Bool(true)]), "1");
        assert_eq!(printf("%u", &[int(42)]), "42");
    }

    #[test]
    fn length_modifiers_pick_the_bits() {
        // bpftrace tests/runtime/call printf_length_modifiers
        let x = int(0x12345678abcdef);
        assert_eq!(
            printf("%hhx %hx %x %jx\n", &[x.clone(), x.clone(), x.clone(), x]),
            "ef cdef 78abcdef 12345678abcdef\n"
        );
        assert_eq!(printf("%d", &[int(5_000_000_000)]), "705032704");
        assert_eq!(printf("%ld", &[int(5_000_000_000)]), "5000000000");
        assert_eq!(
            printf("%lu", &[Value::Uint(u64::MAX)]),
            "18446744073709551615"
        );
        assert_eq!(
            printf("%lld %zd %td", &[int(-1), int(-2), int(-3)]),
            "-1 -2 -3"
        );
        assert_eq!(printf("%hhd %hd", &[int(255), int(65535)]), "-1 -1");
    }

    #[test]
    fn hex_of_negatives() {
        assert_eq!(printf("%x", &[int(-1)]), "ffffffff");
        assert_eq!(printf("%lx", &[int(-1)]), "ffffffffffffffff");
        assert_eq!(printf("%llX", &[int(-2)]), "FFFFFFFFFFFFFFFE");
        assert_eq!(printf("%u", &[int(-1)]), "4294967295");
        assert_eq!(printf("%lu", &[int(-1)]), "18446744073709551615");
        assert_eq!(printf("%lo", &[int(8)]), "10");
    }

    #[test]
    fn alternate_form() {
        assert_eq!(
            printf("%#x %#X %#o", &[int(255), int(255), int(8)]),
            "0xff 0XFF 010"
        );
        assert_eq!(printf("%#x %#o", &[int(0), int(0)]), "0 0");
        assert_eq!(printf("%#d", &[int(5)]), "5");
    }

    #[test]
    fn widths_and_fill() {
        // bpftrace tests/runtime/call printf_lead_zeros
        assert_eq!(printf("%5s %04x", &[s("ba"), int(2)]), "   ba 0002");
        assert_eq!(printf("%-10s|", &[s("abc")]), "abc       |");
        assert_eq!(printf("%10s|", &[s("abc")]), "       abc|");
        assert_eq!(printf("%05d", &[int(42)]), "00042");
        assert_eq!(printf("%5d|%-5d|", &[int(-3), int(-3)]), "   -3|-3   |");
        assert_eq!(printf("%2s", &[s("toolong")]), "toolong");
    }

    #[test]
    fn zero_fill_follows_c() {
        assert_eq!(printf("%05d", &[int(-5)]), "-0005");
        assert_eq!(printf("%+05d", &[int(5)]), "+0005");
        assert_eq!(printf("%-05d|", &[int(5)]), "5    |");
        assert_eq!(printf("%#06x", &[int(255)]), "0x00ff");
        assert_eq!(printf("%010p", &[int(0x32)]), "0x00000032");
        assert_eq!(printf("%05s", &[s("ab")]), "000ab");
        assert_eq!(printf("%05.3d", &[int(7)]), "  007");
    }

    #[test]
    fn plus_and_space_flags() {
        assert_eq!(
            printf("%+d %+d %+d", &[int(5), int(0), int(-5)]),
            "+5 +0 -5"
        );
        assert_eq!(printf("%+u %+x", &[int(5), int(10)]), "5 a");
        assert_eq!(printf("% d|% d", &[int(5), int(-5)]), " 5|-5");
        assert_eq!(printf("%+ d", &[int(5)]), "+5");
    }

    #[test]
    fn precision_cuts_strings_and_pads_digits() {
        // bpftrace tools/tcplife.bt prints comm with %-10.10s.
        assert_eq!(printf("%-10.10s|", &[s("a_long_command")]), "a_long_com|");
        assert_eq!(printf("%.2s|%.9s", &[s("abcdef"), s("ab")]), "ab|ab");
        assert_eq!(printf("%.3s", &[s("héllo")]), "hé");
        assert_eq!(
            printf("%.5d %.3x %.0d|", &[int(-3), int(10), int(0)]),
            "-00003 00a |"
        );
        assert_eq!(printf("%#.3o %#o", &[int(8), int(8)]), "010 010");
    }

    #[test]
    fn enum_symbols() {
        // bpftrace tests/runtime/call printf_enum_symbolize_width
        let sym = |name: &str, value| Value::Symbol {
            name: name.to_string(),
            value,
        };
        assert_eq!(
            printf("%-5s %5s %s\n", &[sym("A", 0), sym("B", 1), sym("C", 2)]),
            "A         B C\n"
        );
        assert_eq!(printf("%d %s", &[sym("ONE", 1), sym("ONE", 1)]), "1 ONE");
    }

    #[test]
    fn chars() {
        // bpftrace tests/runtime/call printf_char
        let args = [int(0x41), int(0x42), int(0x43), int(0x44)];
        assert_eq!(printf("%c%c%c%c\n", &args), "ABCD\n");
        assert_eq!(printf("%3c|%-3c|", &[int(0x41), int(0x141)]), "  A|A  |");
        assert_eq!(printf("%c", &[int(0xe9)]), "\u{fffd}");
    }

    #[test]
    fn pointers() {
        assert_eq!(
            printf("%p", &[Value::Pointer(0xffff_8880_1234_5678)]),
            "0xffff888012345678"
        );
        assert_eq!(printf("%p", &[int(0x32)]), "0x32");
        assert_eq!(printf("%p", &[Value::Pointer(0)]), "0");
        assert_eq!(printf("%hp", &[int(0x12345)]), "0x12345");
        assert_eq!(printf("%10p|", &[int(0x32)]), "      0x32|");
    }

    #[test]
    fn strings_of_any_value() {
        let tuple = Value::Tuple(vec![int(1), s("a")]);
        assert_eq!(
            printf("%s %s %s %s", &[s("x"), int(-3), Value::Bool(false), tuple]),
            "x -3 false (1, a)"
        );
        assert_eq!(
            printf("%s", &[Value::Uint(u64::MAX)]),
            "18446744073709551615"
        );
    }

    #[test]
    fn buffers() {
        let buf = || Value::Buffer(b"hi\x00\xff".to_vec());
        assert_eq!(printf("%r", &[buf()]), "hi\\x00\\xff");
        assert_eq!(printf("%rx", &[buf()]), "\\x68\\x69\\x00\\xff");
        assert_eq!(printf("%rh", &[buf()]), "68 69 00 ff");
        assert_eq!(printf("%s", &[buf()]), "hi\\x00\\xff");
        assert_eq!(printf("%r", &[s("plain")]), "plain");
    }

    #[test]
    fn bad_values_embed_an_error() {
        assert_eq!(
            printf("[%d]", &[s("abc")]),
            "[!{invalid integer conversion: abc}]"
        );
    }

    #[test]
    fn parsed_conversion_fields() {
        let pieces = parse_format("x=%-08.3lX!").unwrap();
        let [
            Piece::Literal(before),
            Piece::Conv(conv),
            Piece::Literal(after),
        ] = &pieces[..]
        else {
            panic!("unexpected pieces {pieces:?}");
        };
        assert_eq!((before.as_str(), after.as_str()), ("x=", "!"));
        assert_eq!(
            conv,
            &Conversion {
                flags: Flags {
                    left: true,
                    zero: true,
                    ..Flags::default()
                },
                width: 8,
                precision: Some(3),
                length: Length::Long,
                kind: ConvKind::HexUpper,
                offset: 2,
                text: "%-08.3lX".to_string(),
            }
        );
        assert_eq!(argument_count(&pieces), 1);
        assert!(conv.kind.takes_integer());
        assert!(!ConvKind::Str.takes_integer());
        assert!(ConvKind::BufferHex.takes_buffer());
    }

    #[test]
    fn flags_in_any_order() {
        assert_eq!(printf("%0-4d|", &[int(1)]), "1   |");
        assert_eq!(printf("%0+5d", &[int(1)]), "+0001");
    }

    #[test]
    fn unknown_conversions_are_errors() {
        assert_eq!(
            parse_error("abc %q"),
            FormatError {
                message: "unknown conversion `%q`".to_string(),
                offset: 4,
            }
        );
        assert_eq!(
            parse_error("%f").message,
            "floating-point conversion `%f` is not supported"
        );
        assert_eq!(parse_error("%n").message, "unknown conversion `%n`");
        assert_eq!(parse_error("%Ld").message, "unknown conversion `%L`");
        assert_eq!(parse_error("%é").message, "unknown conversion `%é`");
        assert_eq!(
            parse_error("50%").message,
            "incomplete conversion at the end of the format"
        );
        assert_eq!(parse_error("%-5").offset, 0);
        assert_eq!(parse_error("%*d").message, "a `*` width is not supported");
        assert_eq!(
            parse_error("%.*d").message,
            "a `*` precision is not supported"
        );
    }

    #[test]
    fn utf8_literals_survive() {
        assert_eq!(printf("héllo %s ü", &[s("wörld")]), "héllo wörld ü");
    }
}
