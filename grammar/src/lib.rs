//! The rbt grammar. The parser it derives yields a pest parse tree; the compiler's `syntax`
//! module turns that tree into the AST.

use pest_derive::Parser;

#[derive(Parser)]
#[grammar = "rbt.pest"]
pub struct RbtParser;

pub use pest;
