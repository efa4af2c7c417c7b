//! C's layout of structs and unions as gcc does it on x86-64 (System V): each field at the
//! next multiple of its alignment, bitfields packed into units of their type without crossing
//! one, the size rounded up to the largest alignment; `packed` drops the padding, `aligned(N)`
//! raises the alignment.

use std::ops::Range;

use crate::types::{Bitfield, Field, Record, Type};

/// A member as declared: `int x[4]`, `unsigned a:4`; an unnamed one is an anonymous struct or
/// union (its fields become the record's) or padding bits.
pub struct Member {
    pub name: String,
    pub ty: Type,
    pub bits: Option<u32>,
    pub span: Range<usize>,
}

#[derive(Default, Clone, Copy)]
pub struct Attrs {
    pub packed: bool,
    pub aligned: Option<usize>,
}

pub fn record(
    union: bool,
    name: String,
    members: Vec<Member>,
    attrs: Attrs,
) -> Result<Record, (String, Range<usize>)> {
    let mut fields = Vec::new();
    let mut bit = 0usize;
    let mut size = 0usize;
    let mut align = 1usize;
    for m in members {
        if matches!(m.ty, Type::Named(_) | Type::Void) {
            return Err((
                format!("field `{}` has the incomplete type {}", m.name, m.ty),
                m.span,
            ));
        }
        let a = if attrs.packed { 1 } else { m.ty.c_align() };
        let type_bits = m.ty.c_size() * 8;
        if union {
            bit = 0;
        }
        match m.bits {
            None => {
                let offset = bit.div_ceil(8).div_ceil(a) * a;
                align = align.max(a);
                bit = (offset + m.ty.c_size()) * 8;
                match (&m.ty, m.name.is_empty()) {
                    (Type::Record(inner), true) => {
                        fields.extend(inner.fields.iter().map(|f| Field {
                            offset: f.offset + offset,
                            ..f.clone()
                        }));
                    }
                    _ => fields.push(Field {
                        name: m.name,
                        offset,
                        ty: m.ty,
                        bitfield: None,
                    }),
                }
            }
            Some(width) => {
                let width = width as usize;
                if !m.ty.is_int() || width > type_bits {
                    return Err((
                        format!("bitfield `{}` is wider than its type {}", m.name, m.ty),
                        m.span,
                    ));
                }
                if width == 0 {
                    if !attrs.packed {
                        bit = bit.div_ceil(type_bits) * type_bits;
                    }
                    continue;
                }
                if !attrs.packed && bit / type_bits != (bit + width - 1) / type_bits {
                    bit = bit.div_ceil(type_bits) * type_bits;
                }
                if !m.name.is_empty() {
                    align = align.max(a);
                    fields.push(Field {
                        name: m.name,
                        offset: bit / 8,
                        ty: m.ty,
                        bitfield: Some(Bitfield {
                            shift: (bit % 8) as u32,
                            bits: width as u32,
                        }),
                    });
                }
                bit += width;
            }
        }
        size = size.max(bit.div_ceil(8));
    }
    if let Some(n) = attrs.aligned {
        align = align.max(n);
    }
    Ok(Record {
        name,
        size: size.div_ceil(align) * align,
        align,
        fields,
    })
}
