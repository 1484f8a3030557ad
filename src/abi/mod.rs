//! The top layer: every function C code calls by name or pointer, each
//! behind the panic boundary.

#[macro_use]
mod boundary;
#[macro_use]
mod export;
mod ctx_free;
mod ctx_new;
mod exports;
mod prototypes;
mod remove_session;
