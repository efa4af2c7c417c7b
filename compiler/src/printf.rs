pub struct FormatError { pub message: String, pub offset: usize }
pub enum Piece { Literal(String), Conv(Conversion) }
pub struct Conversion { pub kind: ConvKind }
#[derive(Clone, Copy)]
pub enum ConvKind { Str, Int }
impl ConvKind { pub fn letter(&self) -> char { 's' } }
pub fn parse(_s: &str) -> Result<Vec<Piece>, FormatError> { todo!() }
