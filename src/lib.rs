//! sesscb: a drop-in for OpenSSL's session-cache callback setters and getters.
//!
//! The six exported `SSL_CTX_sess_*` functions keep the application's
//! callbacks in sesscb's own per-ctx registry and install sesscb trampolines
//! in the real libssl (found at run time, never linked). Every session event
//! then passes through [`dispatch`], which calls the application's callback
//! with the very same arguments and returns its very same result, counts it,
//! and optionally traces it.
//!
//! Module map, top layer first; a module imports only from layers below it
//! (`scripts/import-graph.py` checks it):
//! - [`abi`]: the C ABI (the six OpenSSL names, `sesscb_*`, the ex_data free
//!   function) behind one export macro and the panic boundary.
//! - [`dispatch`]: the trampolines OpenSSL calls, and what they do.
//! - [`registry`]: what a setter and a getter do; where the application's
//!   pointers live (per-ctx slots, shared pool, unresolved ctxs); slot release,
//!   and what a ctx being freed still sees after it.
//! - [`tickets`]: shared, rotating session-ticket keys derived from the
//!   store's keyring (`SESSCB_TICKET_KEYS`).
//! - [`store`]: the shared session store: settings, keys, sealed entries,
//!   the embedded LMDB tier, the `sesscb` command.
//! - [`libssl`]: the real libssl's handle, finding it, attributing a caller.
//! - [`observe`]: the event trace, the counters, per-thread counter shards.
//! - [`sync`], [`ffi`], [`limits`]: leaves (fork-safe lock and process ids;
//!   OpenSSL's opaque types and callback types; the table sizes).

mod abi;
mod dispatch;
mod ffi;
mod libssl;
mod limits;
mod observe;
mod registry;
// Public for the `sesscb` command (src/bin).
pub mod store;
mod sync;
mod tickets;
