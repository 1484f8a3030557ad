//! Leaf: what crosses the C boundary as data — OpenSSL's opaque types, the
//! callback function-pointer types, and the three callback kinds.

pub(crate) mod callbacks;
pub(crate) mod types;
