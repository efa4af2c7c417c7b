//! The wording of syntax errors (codes `E01xx`), and turning pest's errors into words.

use super::literal::{self, IntegerProblem};
use crate::ast::Span;
use crate::diag::Diagnostic;
use rbt_grammar::Rule;
use rbt_grammar::pest::error::{Error, ErrorVariant, InputLocation};

/// A token or construct the parser expected, in the order they are listed to the user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Expected {
    Token(&'static str),
    Statement,
    Expression,
    Operator,
    Probe,
    Predicate,
    MacroParam,
    EndOfInput,
}

impl Expected {
    fn words(self) -> String {
        match self {
            Expected::Token(token) => format!("`{token}`"),
            Expected::Statement => "a statement".to_string(),
            Expected::Expression => "an expression".to_string(),
            Expected::Operator => "an operator".to_string(),
            Expected::Probe => "a probe".to_string(),
            Expected::Predicate => "a predicate".to_string(),
            Expected::MacroParam => "a macro parameter (`$var`, `@map` or a name)".to_string(),
            Expected::EndOfInput => "end of input".to_string(),
        }
    }
}

/// What a rule pest tried stands for; `None` for rules too fine-grained to mention.
fn expected(rule: Rule) -> Option<Expected> {
    use Expected::*;
    Some(match rule {
        Rule::lbrace => Token("{"),
        Rule::rbrace => Token("}"),
        Rule::langle => Token("<"),
        Rule::rangle => Token(">"),
        Rule::lparen => Token("("),
        Rule::rparen => Token(")"),
        Rule::lbracket => Token("["),
        Rule::rbracket => Token("]"),
        Rule::semi => Token(";"),
        Rule::comma => Token(","),
        Rule::slash => Token("/"),
        Rule::question => Token("?"),
        Rule::colon => Token(":"),
        Rule::dotdot => Token(".."),
        Rule::string_end => Token("\""),
        Rule::assign_op => Token("="),
        Rule::kw_else => Token("else"),
        Rule::block => Token("{"),
        Rule::assign
        | Rule::assign_ng
        | Rule::expr_stmt
        | Rule::expr_stmt_ng
        | Rule::if_stmt
        | Rule::kw_if
        | Rule::while_stmt
        | Rule::for_stmt
        | Rule::unroll_stmt
        | Rule::break_stmt
        | Rule::continue_stmt => Statement,
        Rule::expr
        | Rule::expr_ng
        | Rule::binary
        | Rule::binary_ng
        | Rule::unary
        | Rule::prefix_op
        | Rule::cast
        | Rule::postfix
        | Rule::int
        | Rule::boolean
        | Rule::string
        | Rule::call
        | Rule::positional
        | Rule::var
        | Rule::map
        | Rule::map_name
        | Rule::paren
        | Rule::tuple
        | Rule::block_expr
        | Rule::ident => Expression,
        Rule::infix | Rule::infix_ng => Operator,
        Rule::program | Rule::action | Rule::probes | Rule::probe | Rule::provider => Probe,
        Rule::predicate => Predicate,
        Rule::macro_param => MacroParam,
        Rule::EOI => EndOfInput,
        _ => return None,
    })
}

/// A pest error in words: "expected `}` or a statement", pointing at the offending token.
pub fn from_pest(error: &Error<Rule>, source: &str) -> Diagnostic {
    let at = match error.location {
        InputLocation::Pos(at) => at,
        InputLocation::Span((start, _)) => start,
    };
    if let Some((what, start)) = unterminated(source)
        && at >= start
    {
        return match what {
            Unterminated::String => {
                let line_end = source[start..]
                    .find('\n')
                    .map_or(source.len(), |n| start + n);
                Diagnostic::error("E0102", "unterminated string", start..line_end)
                    .with_label("this string has no closing `\"`")
            }
            Unterminated::Comment => {
                Diagnostic::error("E0103", "unterminated comment", start..start + 2)
                    .with_label("this comment has no closing `*/`")
            }
        };
    }
    let positives = match &error.variant {
        ErrorVariant::ParsingError { positives, .. } => positives,
        // pest's own limits (nesting, call budget).
        ErrorVariant::CustomError { message } => {
            return Diagnostic::error("E0101", format!("cannot parse: {message}"), at..at);
        }
    };
    let mut wanted: Vec<Expected> = positives.iter().filter_map(|r| expected(*r)).collect();
    // `;` is an empty statement, `{` a block statement and `?` an operator: name only the
    // wider class.
    if wanted.contains(&Expected::Statement) {
        wanted.retain(|w| !matches!(w, Expected::Expression | Expected::Token(";" | "{")));
    }
    if wanted.contains(&Expected::Operator) {
        wanted.retain(|w| *w != Expected::Token("?"));
    }
    wanted.sort();
    wanted.dedup();
    let found = token_at(source, at);
    let (message, span) = match found {
        Some(token) => (format!("unexpected `{token}`"), at..at + token.len()),
        None => ("unexpected end of input".to_string(), at..at),
    };
    let message = if wanted.is_empty() {
        message
    } else {
        format!("expected {}", list(&wanted))
    };
    let label = match found {
        Some(token) => format!("unexpected `{token}`"),
        None => "the script ends here".to_string(),
    };
    Diagnostic::error("E0101", message, span).with_label(label)
}

/// True when the error is only that the source ended too early.
pub fn ends_too_early(error: &Error<Rule>, source: &str) -> bool {
    if unterminated(source).is_some() {
        return true;
    }
    let at = match error.location {
        InputLocation::Pos(at) => at,
        InputLocation::Span((start, _)) => start,
    };
    token_at(source, at).is_none()
}

/// "`a`, `b` or `c`"
fn list(wanted: &[Expected]) -> String {
    let words: Vec<String> = wanted.iter().map(|w| w.words()).collect();
    match words.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// The token starting at `at` (a word, a number or one character), or `None` at the end of
/// the source (only whitespace and comments left).
fn token_at(source: &str, at: usize) -> Option<&str> {
    let rest = source.get(at..)?;
    if skip_blank(rest).is_empty() {
        return None;
    }
    let word_len = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    let len = if word_len > 0 {
        word_len
    } else {
        rest.chars().next().map_or(0, char::len_utf8)
    };
    Some(&rest[..len])
}

/// `text` without leading whitespace and complete comments.
fn skip_blank(mut text: &str) -> &str {
    loop {
        text = text.trim_start();
        if let Some(rest) = text.strip_prefix("//") {
            text = rest.find('\n').map_or("", |end| &rest[end..]);
        } else if let Some(rest) = text.strip_prefix("/*")
            && let Some(end) = rest.find("*/")
        {
            text = &rest[end + 2..];
        } else {
            return text;
        }
    }
}

enum Unterminated {
    String,
    Comment,
}

/// A string or block comment still open at the end of the source, and where it starts.
fn unterminated(source: &str) -> Option<(Unterminated, usize)> {
    let bytes = source.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let start = i;
                i += 1;
                loop {
                    match bytes.get(i) {
                        None => return Some((Unterminated::String, start)),
                        Some(b'"') => break,
                        Some(b'\\') => i += 2,
                        Some(_) => i += 1,
                    }
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let start = i;
                match source[i + 2..].find("*/") {
                    Some(end) => i += 2 + end + 1,
                    None => return Some((Unterminated::Comment, start)),
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

pub fn bad_integer(problem: IntegerProblem, text: &str, span: Span) -> Diagnostic {
    let invalid = || {
        Diagnostic::error(
            "E0104",
            format!("invalid integer literal `{text}`"),
            span.clone(),
        )
    };
    match problem {
        IntegerProblem::Invalid => invalid()
            .with_label("not a decimal, hexadecimal (`0x`), binary (`0b`) or octal (`0`) number"),
        IntegerProblem::BadSuffix => invalid()
            .with_label("unknown suffix after the digits")
            .with_help(format!(
                "a number may end in a duration unit ({}) or in C's u, ul, ull, l, ll",
                literal::DURATION_UNITS.map(|(unit, _)| unit).join(", ")
            )),
        IntegerProblem::BadCoefficient => invalid()
            .with_label("the coefficient of a scientific literal must be 1-9")
            .with_help("write the number out instead; `_` may separate its digits (12_000)"),
        IntegerProblem::TooLarge { max } => {
            Diagnostic::error("E0105", "integer literal is too large", span)
                .with_label(if max == u64::MAX {
                    "does not fit in 64 bits"
                } else {
                    "does not fit in 32 bits (the `u` suffix)"
                })
                .with_help(format!("the largest integer is {max}"))
        }
    }
}

pub fn bad_escape(text: &str, span: Span) -> Diagnostic {
    Diagnostic::error("E0106", format!("unknown escape sequence `{text}`"), span)
        .with_help("escapes are \\n \\t \\r \\\\ \\\" \\' \\0 to \\377 (octal) and \\x00 to \\xff")
}

pub fn bad_positional(text: &str, span: Span) -> Diagnostic {
    Diagnostic::error(
        "E0107",
        format!("positional parameter `{text}` is too large"),
        span,
    )
}

/// Nesting deeper than `limit` brackets, refused before parsing (deep recursion could
/// exhaust the stack); `None` when the source is shallow enough.
pub fn too_deep(source: &str, limit: usize) -> Option<Diagnostic> {
    let mut depth = 0usize;
    for (at, c) in source.char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth > limit {
            return Some(
                Diagnostic::error("E0108", "nesting is too deep", at..at + 1)
                    .with_label(format!("more than {limit} levels of brackets")),
            );
        }
    }
    None
}
