//! What a ctx being freed still sees after its slot was released.
//!
//! `SSL_CTX_free` (`ssl/ssl_lib.c`) flushes the cache, then runs every
//! SSL_CTX ex_data free function (`CRYPTO_free_ex_data` in
//! `crypto/ex_data.c`: 1.1.1 in ascending index order; 3.x by priority, then
//! index), then frees the cache; those free functions "might also touch the
//! session cache" (docs/openssl-behaviour.md, "SSL_CTX_free and ex_data").
//! An application whose index was registered after sesscb's has its free
//! function run after sesscb released the slot, and there it may still call
//! the getters or `SSL_CTX_remove_session` on the ctx, whose real fields
//! hold the released slot's trampolines.
//!
//! OpenSSL offers no hook after the last free function, so sesscb cannot
//! release later; it releases at once (the table stays bounded, the slot
//! reusable, nothing per ctx grows) and keeps what the slot held in a small
//! per-thread list: the rest of `SSL_CTX_free` runs on the freeing thread,
//! and only a ctx being freed can hold a trampoline of a slot that is no
//! longer its own. So the list is consulted only then (a getter's last
//! resort, a remove trampoline whose slot belongs to another ctx) and costs
//! the callbacks of live ctxs nothing.

use std::cell::Cell;

use crate::ffi::callbacks::Address;
use crate::ffi::types::SslCtx;

/// Per thread: the ctxs freed most recently, enough for an application's
/// free function that frees a few other ctxs before touching its own (one
/// that frees more sees its own ctx as right after the release: getters
/// answer trampolines, the remove callback is not called).
pub(crate) const FREED_PER_THREAD: usize = 16;

/// No ctx: address 0 is never a ctx.
const NO_CTX: usize = 0;

#[derive(Clone, Copy)]
struct Freed {
    ctx: usize,
    slot: usize,
    callbacks: [Address; 3],
}

const NOTHING: Freed = Freed { ctx: NO_CTX, slot: 0, callbacks: [0; 3] };

thread_local! {
    // Const-initialised, no destructor: usable until the thread is gone.
    static FREED: [Cell<Freed>; FREED_PER_THREAD] = const { [const { Cell::new(NOTHING) }; FREED_PER_THREAD] };
    static NEXT: Cell<usize> = const { Cell::new(0) };
}

/// Notes, on the freeing thread, that `ctx` lost `slot`, which held
/// `callbacks` (by `Kind::index`).
pub fn remember(ctx: *mut SslCtx, slot: usize, callbacks: [Address; 3]) {
    let entry = Freed { ctx: ctx as usize, slot, callbacks };
    let _ = FREED.try_with(|list| {
        // A ctx freed at this address before has finished being freed.
        if let Some(old) = list.iter().find(|e| e.get().ctx == entry.ctx) {
            old.set(entry);
            return;
        }
        let _ = NEXT.try_with(|next| {
            list[next.get()].set(entry);
            next.set((next.get() + 1) % FREED_PER_THREAD);
        });
    });
}

/// For a ctx that this thread is freeing (or freed recently): the slot it
/// had and the application's callbacks it held then.
pub fn lookup(ctx: *mut SslCtx) -> Option<(usize, [Address; 3])> {
    let key = ctx as usize;
    if key == NO_CTX {
        return None;
    }
    FREED
        .try_with(|list| list.iter().map(Cell::get).find(|e| e.ctx == key).map(|e| (e.slot, e.callbacks)))
        .ok()
        .flatten()
}
