//! printf format strings as bpftrace handles them (its `src/format_string.cpp`): parsed at
//! compile time, where a bad format is an error at its place in the script, and rendered at run
//! time by the runtime's output module with the decoded arguments.

/// A format string that cannot be used. `offset` is the byte offset of the `%` that starts the
/// bad conversion.
#[derive(Clone, Debug, PartialEq)]
pub struct FormatError {
    pub message: String,
    pub offset: usize,
}

/// A parsed format: literal text (with `%%` already turned into `%`) and conversions, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Piece {
    Literal(String),
    Conv(Conversion),
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Flags {
    /// `-`: pad on the right.
    pub left: bool,
    /// `+`: a `+` before non-negative signed numbers.
    pub plus: bool,
    /// ` `: a space before non-negative signed numbers.
    pub space: bool,
    /// `#`: `0x`/`0X` before non-zero hex, `0` before non-zero octal.
    pub alternate: bool,
    /// `0`: pad with `0` instead of spaces.
    pub zero: bool,
}

/// The length modifier: how many bits of the argument an integer conversion uses.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Length {
    /// No modifier: 32 bits (C's int).
    Int,
    /// `hh`: 8 bits.
    Char,
    /// `h`: 16 bits.
    Short,
    /// `l`, `ll`, `j`, `z`, `t`: 64 bits.
    Long,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ConvKind {
    /// `%d`, `%i`
    Signed,
    /// `%u`
    Unsigned,
    /// `%o`
    Octal,
    /// `%x`
    Hex,
    /// `%X`
    HexUpper,
    /// `%c`: the low byte of an integer.
    Char,
    /// `%s`: any value in its text form.
    Str,
    /// `%p`
    Pointer,
    /// `%r`: a buffer, printable ASCII kept, other bytes `\xNN`.
    Buffer,
    /// `%rx`: a buffer, every byte `\xNN`.
    BufferHex,
    /// `%rh`: a buffer, every byte `NN`, separated by spaces.
    BufferHexSpaced,
}

impl ConvKind {
    /// Whether the argument must be an integer (or bool, pointer or enum), as bpftrace checks.
    pub fn takes_integer(self) -> bool {
        !matches!(
            self,
            ConvKind::Str | ConvKind::Buffer | ConvKind::BufferHex | ConvKind::BufferHexSpaced
        )
    }

    /// Whether the argument must be a buffer (from buf()).
    pub fn takes_buffer(self) -> bool {
        matches!(
            self,
            ConvKind::Buffer | ConvKind::BufferHex | ConvKind::BufferHexSpaced
        )
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Conversion {
    pub flags: Flags,
    /// 0 when no width was given.
    pub width: usize,
    /// The most bytes of a string, or the fewest digits of an integer.
    pub precision: Option<usize>,
    pub length: Length,
    pub kind: ConvKind,
    /// Byte offset of the `%` in the format string.
    pub offset: usize,
    /// The conversion as written, e.g. `%-10s`.
    pub text: String,
}

fn error(message: String, offset: usize) -> FormatError {
    FormatError { message, offset }
}

/// Parses a printf format (escapes already processed). Conversions: `d i u x X o s c p`, bpftrace's
/// buffer conversions `r rx rh`, and `%%`; flags `- + space # 0` in any order; a width; a
/// precision; length modifiers `hh h l ll j z t`. Anything else after a `%` is an error.
pub fn parse_format(fmt: &str) -> Result<Vec<Piece>, FormatError> {
    let bytes = fmt.as_bytes();
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut literal_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            i += 1;
            continue;
        }
        literal.push_str(&fmt[literal_start..i]);
        if bytes.get(i + 1) == Some(&b'%') {
            literal.push('%');
            i += 2;
            literal_start = i;
            continue;
        }
        let (conversion, end) = parse_conversion(fmt, i)?;
        if !literal.is_empty() {
            pieces.push(Piece::Literal(std::mem::take(&mut literal)));
        }
        pieces.push(Piece::Conv(conversion));
        i = end;
        literal_start = i;
    }
    literal.push_str(&fmt[literal_start..]);
    if !literal.is_empty() {
        pieces.push(Piece::Literal(literal));
    }
    Ok(pieces)
}

fn parse_number(bytes: &[u8], i: &mut usize) -> Option<usize> {
    let start = *i;
    while *i < bytes.len() && bytes[*i].is_ascii_digit() {
        *i += 1;
    }
    if *i == start {
        return None;
    }
    // Digits only, so this fails only on overflow; saturate like a huge width would behave.
    Some(
        std::str::from_utf8(&bytes[start..*i])
            .unwrap()
            .parse()
            .unwrap_or(usize::MAX),
    )
}

/// Parses the conversion starting at the `%` at `start`; returns it and the offset after it.
fn parse_conversion(fmt: &str, start: usize) -> Result<(Conversion, usize), FormatError> {
    let bytes = fmt.as_bytes();
    let mut i = start + 1;
    let mut flags = Flags::default();
    loop {
        match bytes.get(i) {
            Some(b'-') => flags.left = true,
            Some(b'+') => flags.plus = true,
            Some(b' ') => flags.space = true,
            Some(b'#') => flags.alternate = true,
            Some(b'0') => flags.zero = true,
            _ => break,
        }
        i += 1;
    }
    if bytes.get(i) == Some(&b'*') {
        return Err(error("a `*` width is not supported".to_string(), start));
    }
    let width = parse_number(bytes, &mut i).unwrap_or(0);
    let mut precision = None;
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        if bytes.get(i) == Some(&b'*') {
            return Err(error("a `*` precision is not supported".to_string(), start));
        }
        precision = Some(parse_number(bytes, &mut i).unwrap_or(0));
    }
    let rest = &fmt[i..];
    let (length, length_len) = if rest.starts_with("hh") {
        (Length::Char, 2)
    } else if rest.starts_with("ll") {
        (Length::Long, 2)
    } else if rest.starts_with('h') {
        (Length::Short, 1)
    } else if rest.starts_with(['l', 'j', 'z', 't']) {
        (Length::Long, 1)
    } else {
        (Length::Int, 0)
    };
    i += length_len;
    let rest = &fmt[i..];
    let (kind, kind_len) = match rest.chars().next() {
        Some('d' | 'i') => (ConvKind::Signed, 1),
        Some('u') => (ConvKind::Unsigned, 1),
        Some('o') => (ConvKind::Octal, 1),
        Some('x') => (ConvKind::Hex, 1),
        Some('X') => (ConvKind::HexUpper, 1),
        Some('c') => (ConvKind::Char, 1),
        Some('s') => (ConvKind::Str, 1),
        Some('p') => (ConvKind::Pointer, 1),
        Some('r') if rest.starts_with("rx") => (ConvKind::BufferHex, 2),
        Some('r') if rest.starts_with("rh") => (ConvKind::BufferHexSpaced, 2),
        Some('r') => (ConvKind::Buffer, 1),
        Some(c @ ('f' | 'F' | 'e' | 'E' | 'g' | 'G' | 'a' | 'A')) => {
            let message = format!("floating-point conversion `%{c}` is not supported");
            return Err(error(message, start));
        }
        Some(c) => {
            let message = format!("unknown conversion `%{c}`");
            return Err(error(message, start));
        }
        None => {
            let message = "incomplete conversion at the end of the format".to_string();
            return Err(error(message, start));
        }
    };
    i += kind_len;
    let conversion = Conversion {
        flags,
        width,
        precision,
        length,
        kind,
        offset: start,
        text: fmt[start..i].to_string(),
    };
    Ok((conversion, i))
}

/// The number of arguments a parsed format takes.
pub fn argument_count(pieces: &[Piece]) -> usize {
    pieces
        .iter()
        .filter(|p| matches!(p, Piece::Conv(_)))
        .count()
}
