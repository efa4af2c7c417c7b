//! The C a script may define: `struct`/`union` (nested, anonymous, bitfields, arrays,
//! pointers, `__attribute__((packed))`, `aligned(N)`), `enum`, `typedef`, `#define NAME value`;
//! `#include` lines are ignored. Each definition is read into `CTypes` as it is parsed, so a
//! later one may use an earlier one.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use super::layout::{self, Attrs, Member};
use super::{CTypes, Constant, builtin, pointer_to};
use crate::diag::Diagnostic;
use crate::types::{EnumDef, Type};

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Num(i64),
    Punct(&'static str),
}

struct Token {
    tok: Tok,
    span: Range<usize>,
}

const PUNCTS: [&str; 27] = [
    "<<", ">>", "...", "{", "}", "(", ")", "[", "]", ";", ",", "*", ":", "=", "+", "-", "~", "!",
    "&", "|", "^", "/", "%", "<", ">", ".", "?",
];

fn error(message: impl Into<String>, span: Range<usize>) -> Diagnostic {
    Diagnostic::error("E0110", message.into(), span).with_label("in this C definition")
}

fn tokenize(text: &str, base: usize) -> Result<Vec<Token>, Diagnostic> {
    let bytes = text.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
        } else if text[i..].starts_with("//") {
            i = text[i..].find('\n').map_or(bytes.len(), |n| i + n);
        } else if text[i..].starts_with("/*") {
            i = text[i + 2..]
                .find("*/")
                .map_or(bytes.len(), |n| i + 2 + n + 2);
        } else if c.is_ascii_alphabetic() || c == b'_' {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            toks.push(Token {
                tok: Tok::Ident(text[start..i].to_string()),
                span: base + start..base + i,
            });
        } else if c.is_ascii_digit() {
            while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
                i += 1;
            }
            let digits = text[start..i].trim_end_matches(['u', 'U', 'l', 'L']);
            let value = if let Some(hex) = digits
                .strip_prefix("0x")
                .or_else(|| digits.strip_prefix("0X"))
            {
                u64::from_str_radix(hex, 16).ok()
            } else if digits.len() > 1 && digits.starts_with('0') {
                u64::from_str_radix(&digits[1..], 8).ok()
            } else {
                digits.parse().ok()
            };
            let Some(value) = value else {
                return Err(error(
                    format!("`{}` is not a number", &text[start..i]),
                    base + start..base + i,
                ));
            };
            toks.push(Token {
                tok: Tok::Num(value as i64),
                span: base + start..base + i,
            });
        } else if let Some(p) = PUNCTS.iter().find(|p| text[i..].starts_with(**p)) {
            i += p.len();
            toks.push(Token {
                tok: Tok::Punct(p),
                span: base + start..base + i,
            });
        } else {
            let ch = text[i..].chars().next().unwrap_or(' ');
            return Err(error(
                format!("unexpected `{ch}` in a C definition"),
                base + start..base + start + ch.len_utf8(),
            ));
        }
    }
    Ok(toks)
}

/// Reads one definition as the grammar took it (`struct ... }`, `typedef ...;`, `#define`).
pub fn definition(text: &str, base: usize, ctypes: &mut CTypes) -> Result<(), Diagnostic> {
    if let Some(directive) = text.strip_prefix('#') {
        let trimmed = directive.trim_start();
        let at = base + 1 + (directive.len() - trimmed.len());
        if trimmed.starts_with("include") {
            return Ok(());
        }
        let rest = &trimmed["define".len()..];
        let mut p = Parser::new(tokenize(rest, at + "define".len())?, text, base, ctypes);
        let (name, span) = p.ident()?;
        if p.peek_punct("(") && p.span().start == span.end {
            return Err(error(
                format!(
                    "`#define {name}(...)` takes arguments: rbt reads only `#define NAME value`"
                ),
                span,
            ));
        }
        if p.at_end() {
            return Ok(());
        }
        let value = p.const_expr(&HashMap::new())?;
        p.expect_end()?;
        p.ctypes.define_constant(
            name,
            Constant {
                value,
                ty: Type::I64,
            },
        );
        return Ok(());
    }
    let mut p = Parser::new(tokenize(text, base)?, text, base, ctypes);
    while !p.at_end() {
        if p.eat_punct(";") {
            continue;
        }
        if p.eat_word("typedef") {
            let (base_ty, plain_char) = p.specifiers()?;
            loop {
                let (name, ty, _) = p.declarator(base_ty.clone(), plain_char)?;
                p.ctypes.define_type(name, ty);
                if !p.eat_punct(",") {
                    break;
                }
            }
            p.expect_punct(";")?;
            continue;
        }
        p.specifiers()?;
    }
    Ok(())
}

struct Parser<'c> {
    toks: Vec<Token>,
    pos: usize,
    /// Where the definition ends, for "expected ..." at its end.
    end: usize,
    ctypes: &'c mut CTypes,
}

impl<'c> Parser<'c> {
    fn new(toks: Vec<Token>, text: &str, base: usize, ctypes: &'c mut CTypes) -> Self {
        Parser {
            toks,
            pos: 0,
            end: base + text.len(),
            ctypes,
        }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.toks.len()
    }

    fn span(&self) -> Range<usize> {
        match self.toks.get(self.pos) {
            Some(t) => t.span.clone(),
            None => self.end.saturating_sub(1)..self.end,
        }
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }

    fn peek_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Some(Tok::Punct(q)) if *q == p)
    }

    fn peek_word(&self) -> Option<&str> {
        match self.peek() {
            Some(Tok::Ident(w)) => Some(w),
            _ => None,
        }
    }

    fn eat_punct(&mut self, p: &str) -> bool {
        let hit = self.peek_punct(p);
        self.pos += hit as usize;
        hit
    }

    fn eat_word(&mut self, w: &str) -> bool {
        let hit = self.peek_word() == Some(w);
        self.pos += hit as usize;
        hit
    }

    fn expect_punct(&mut self, p: &str) -> Result<(), Diagnostic> {
        if self.eat_punct(p) {
            Ok(())
        } else {
            Err(error(format!("expected `{p}`"), self.span()))
        }
    }

    fn expect_end(&self) -> Result<(), Diagnostic> {
        if self.at_end() {
            Ok(())
        } else {
            Err(error("unexpected text after the value", self.span()))
        }
    }

    fn ident(&mut self) -> Result<(String, Range<usize>), Diagnostic> {
        match self.toks.get(self.pos) {
            Some(Token {
                tok: Tok::Ident(name),
                span,
            }) => {
                self.pos += 1;
                Ok((name.clone(), span.clone()))
            }
            _ => Err(error("expected a name", self.span())),
        }
    }

    /// A declaration's type before its declarator: qualifiers, C's integer words, a builtin
    /// or typedef name, or a struct/union/enum (defined here or named). Also says whether the
    /// type is plain `char`, whose arrays are strings.
    fn specifiers(&mut self) -> Result<(Type, bool), Diagnostic> {
        let mut words: Vec<String> = Vec::new();
        let start = self.span();
        loop {
            let Some(word) = self.peek_word().map(str::to_string) else {
                break;
            };
            match word.as_str() {
                "const" | "volatile" | "static" | "extern" | "register" | "restrict"
                | "__restrict" | "inline" => self.pos += 1,
                "__attribute__" | "__attribute" => {
                    self.attributes(&mut Attrs::default())?;
                }
                "struct" | "union" if words.is_empty() => {
                    self.pos += 1;
                    return Ok((self.record(word == "union")?, false));
                }
                "enum" if words.is_empty() => {
                    self.pos += 1;
                    return Ok((self.enumeration()?, false));
                }
                "unsigned" | "signed" | "long" | "short" | "char" | "int" => {
                    self.pos += 1;
                    words.push(word);
                }
                _ if words.is_empty() => {
                    self.pos += 1;
                    let t = builtin(&word).or_else(|| self.ctypes.types.get(&word).cloned());
                    return match t {
                        Some(t) => Ok((t, false)),
                        None => Err(error(format!("unknown type `{word}`"), start)),
                    };
                }
                _ => break,
            }
        }
        if words.is_empty() {
            return Err(error("expected a type", self.span()));
        }
        let plain_char = words == ["char"];
        let t = builtin(&words.join(" "))
            .ok_or_else(|| error(format!("`{}` is not a C type", words.join(" ")), start))?;
        Ok((t, plain_char))
    }

    /// `*`s, a name, `[N]`s: the declared name, its type, its span.
    fn declarator(
        &mut self,
        base: Type,
        plain_char: bool,
    ) -> Result<(String, Type, Range<usize>), Diagnostic> {
        let mut t = base;
        let mut stars = 0;
        loop {
            if self.eat_punct("*") {
                stars += 1;
            } else if !(self.eat_word("const")
                || self.eat_word("volatile")
                || self.eat_word("restrict"))
            {
                break;
            }
        }
        for _ in 0..stars {
            t = pointer_to(t);
        }
        if self.eat_punct("(") {
            // A function pointer, `void (*f)(int)`: kept as a pointer.
            while self.eat_punct("*") {}
            let (name, span) = self.ident()?;
            self.expect_punct(")")?;
            if self.peek_punct("(") {
                self.skip_parens()?;
            }
            return Ok((name, Type::Ptr(Box::new(Type::Void)), span));
        }
        let (name, span) = self.ident()?;
        let mut dims = Vec::new();
        while self.eat_punct("[") {
            if self.eat_punct("]") {
                dims.push(0);
                continue;
            }
            let n = self.const_expr(&HashMap::new())?;
            if n < 0 {
                return Err(error("an array cannot have a negative size", span));
            }
            self.expect_punct("]")?;
            dims.push(n as usize);
        }
        let string = plain_char && stars == 0;
        for (i, len) in dims.iter().enumerate().rev() {
            t = if string && i == dims.len() - 1 {
                Type::Str { len: *len }
            } else {
                Type::Array {
                    elem: Box::new(t),
                    len: *len,
                }
            };
        }
        Ok((name, t, span))
    }

    /// After `struct` or `union`: a definition `[name] { members } [attributes]`, or a name.
    fn record(&mut self, union: bool) -> Result<Type, Diagnostic> {
        let keyword = if union { "union" } else { "struct" };
        let mut attrs = Attrs::default();
        self.attributes(&mut attrs)?;
        let start = self.span();
        let name = match self.peek_word() {
            Some(_) => Some(self.ident()?.0),
            None => None,
        };
        self.attributes(&mut attrs)?;
        if !self.peek_punct("{") {
            let Some(name) = name else {
                return Err(error(
                    format!("expected a {keyword}'s name or `{{`"),
                    self.span(),
                ));
            };
            let full = format!("{keyword} {name}");
            // Known: itself; else only a name, which a pointer may point to.
            return Ok(self
                .ctypes
                .types
                .get(&full)
                .cloned()
                .unwrap_or(Type::Named(full)));
        }
        self.pos += 1;
        let mut members = Vec::new();
        while !self.eat_punct("}") {
            if self.at_end() {
                return Err(error("expected `}`", self.span()));
            }
            if self.eat_punct(";") {
                continue;
            }
            let (base, plain_char) = self.specifiers()?;
            if self.peek_punct(";") || self.peek_punct("}") {
                // An anonymous struct or union member: its fields are the record's.
                if matches!(&base, Type::Record(r) if r.name.contains("(anonymous")) {
                    members.push(Member {
                        name: String::new(),
                        ty: base,
                        bits: None,
                        span: start.clone(),
                    });
                }
                continue;
            }
            loop {
                let member = if self.peek_punct(":") {
                    Member {
                        name: String::new(),
                        ty: base.clone(),
                        bits: None,
                        span: self.span(),
                    }
                } else {
                    let (name, ty, span) = self.declarator(base.clone(), plain_char)?;
                    Member {
                        name,
                        ty,
                        bits: None,
                        span,
                    }
                };
                let bits = if self.eat_punct(":") {
                    let w = self.const_expr(&HashMap::new())?;
                    Some(
                        u32::try_from(w)
                            .map_err(|_| error("a negative bitfield width", member.span.clone()))?,
                    )
                } else {
                    None
                };
                members.push(Member { bits, ..member });
                if !self.eat_punct(",") {
                    break;
                }
            }
            if !self.eat_punct(";") && !self.peek_punct("}") {
                return Err(error("expected `;` after a member", self.span()));
            }
        }
        self.attributes(&mut attrs)?;
        let full = match &name {
            Some(n) => format!("{keyword} {n}"),
            None => format!("{keyword} (anonymous at {})", start.start),
        };
        let record = layout::record(union, full.clone(), members, attrs)
            .map_err(|(message, span)| error(message, span))?;
        let t = Type::Record(Arc::new(record));
        if name.is_some() {
            self.ctypes.define_type(full, t.clone());
        }
        Ok(t)
    }

    /// After `enum`: `[name] { A, B = 2, ... }` or a name.
    fn enumeration(&mut self) -> Result<Type, Diagnostic> {
        let name = match self.peek_word() {
            Some(_) => Some(self.ident()?),
            None => None,
        };
        if !self.eat_punct("{") {
            let Some((name, span)) = name else {
                return Err(error("expected an enum's name or `{`", self.span()));
            };
            return self
                .ctypes
                .types
                .get(&format!("enum {name}"))
                .cloned()
                .ok_or_else(|| error(format!("unknown type `enum {name}`"), span));
        }
        let mut values: HashMap<String, i64> = HashMap::new();
        let mut variants = Vec::new();
        let mut next = 0i64;
        while !self.eat_punct("}") {
            let (variant, _) = self.ident()?;
            let value = if self.eat_punct("=") {
                self.const_expr(&values)?
            } else {
                next
            };
            next = value.wrapping_add(1);
            values.insert(variant.clone(), value);
            variants.push((variant, value));
            if !self.eat_punct(",") {
                self.expect_punct("}")?;
                break;
            }
        }
        let signed = variants.iter().any(|(_, v)| *v < 0);
        let fits = |v: i64| {
            if signed {
                i32::try_from(v).is_ok()
            } else {
                u32::try_from(v).is_ok()
            }
        };
        let def = Arc::new(EnumDef {
            name: name.as_ref().map_or(String::new(), |(n, _)| n.clone()),
            size: if variants.iter().all(|(_, v)| fits(*v)) {
                4
            } else {
                8
            },
            signed,
            variants,
        });
        let t = Type::Enum(def.clone());
        for (variant, value) in &def.variants {
            self.ctypes.define_constant(
                variant.clone(),
                Constant {
                    value: *value,
                    ty: t.clone(),
                },
            );
        }
        if let Some((name, _)) = name {
            self.ctypes.define_type(format!("enum {name}"), t.clone());
        }
        Ok(t)
    }

    /// `__attribute__((packed, aligned(8)))`, repeated; other attributes are skipped.
    fn attributes(&mut self, attrs: &mut Attrs) -> Result<(), Diagnostic> {
        while self.eat_word("__attribute__") || self.eat_word("__attribute") {
            self.expect_punct("(")?;
            self.expect_punct("(")?;
            while !self.eat_punct(")") {
                let (name, _) = self.ident()?;
                match name.trim_matches('_') {
                    "packed" => attrs.packed = true,
                    "aligned" => {
                        let mut n = 16;
                        if self.eat_punct("(") {
                            n = self.const_expr(&HashMap::new())?;
                            self.expect_punct(")")?;
                        }
                        attrs.aligned = Some(n.max(1) as usize);
                    }
                    _ if self.peek_punct("(") => self.skip_parens()?,
                    _ => {}
                }
                self.eat_punct(",");
            }
            self.expect_punct(")")?;
        }
        Ok(())
    }

    fn skip_parens(&mut self) -> Result<(), Diagnostic> {
        self.expect_punct("(")?;
        let mut depth = 1;
        while depth > 0 {
            match self.peek() {
                None => return Err(error("expected `)`", self.span())),
                Some(Tok::Punct("(")) => depth += 1,
                Some(Tok::Punct(")")) => depth -= 1,
                _ => {}
            }
            self.pos += 1;
        }
        Ok(())
    }

    /// An integer constant expression: numbers, enum values and defines seen so far,
    /// parentheses, unary `- ~ !` and C's binary operators.
    fn const_expr(&mut self, local: &HashMap<String, i64>) -> Result<i64, Diagnostic> {
        self.binary(0, local)
    }

    fn binary(&mut self, min: u8, local: &HashMap<String, i64>) -> Result<i64, Diagnostic> {
        let mut lhs = self.operand(local)?;
        loop {
            let Some(Tok::Punct(op)) = self.peek().cloned() else {
                return Ok(lhs);
            };
            let prec = match op {
                "|" => 1,
                "^" => 2,
                "&" => 3,
                "<<" | ">>" => 5,
                "+" | "-" => 6,
                "*" | "/" | "%" => 7,
                _ => return Ok(lhs),
            };
            if prec < min {
                return Ok(lhs);
            }
            let at = self.span();
            self.pos += 1;
            let rhs = self.binary(prec + 1, local)?;
            lhs = match op {
                "|" => lhs | rhs,
                "^" => lhs ^ rhs,
                "&" => lhs & rhs,
                "<<" => lhs.wrapping_shl(rhs as u32),
                ">>" => lhs.wrapping_shr(rhs as u32),
                "+" => lhs.wrapping_add(rhs),
                "-" => lhs.wrapping_sub(rhs),
                "*" => lhs.wrapping_mul(rhs),
                _ if rhs == 0 => return Err(error("division by zero", at)),
                "/" => lhs.wrapping_div(rhs),
                _ => lhs.wrapping_rem(rhs),
            };
        }
    }

    fn operand(&mut self, local: &HashMap<String, i64>) -> Result<i64, Diagnostic> {
        let span = self.span();
        match self.peek().cloned() {
            Some(Tok::Num(v)) => {
                self.pos += 1;
                Ok(v)
            }
            Some(Tok::Punct("-")) => {
                self.pos += 1;
                Ok(self.operand(local)?.wrapping_neg())
            }
            Some(Tok::Punct("~")) => {
                self.pos += 1;
                Ok(!self.operand(local)?)
            }
            Some(Tok::Punct("!")) => {
                self.pos += 1;
                Ok((self.operand(local)? == 0) as i64)
            }
            Some(Tok::Punct("(")) => {
                self.pos += 1;
                let v = self.const_expr(local)?;
                self.expect_punct(")")?;
                Ok(v)
            }
            Some(Tok::Ident(name)) => {
                self.pos += 1;
                local
                    .get(&name)
                    .copied()
                    .or_else(|| self.ctypes.constants.get(&name).map(|c| c.value))
                    .ok_or_else(|| error(format!("`{name}` is not a known constant"), span))
            }
            _ => Err(error("expected an integer constant", span)),
        }
    }
}
