//! The defined answer for a ctx whose libssl sesscb cannot identify (no
//! libssl is loaded, or none of those loaded made the ctx; README
//! "Deviations").
//!
//! Nothing can be installed in OpenSSL without that libssl, and sesscb cannot
//! learn when such a ctx is freed (its ex_data free function would live in
//! the libssl it cannot reach), so it keeps nothing: a setter is not honoured
//! (traced with route "unresolved"; the reason is noted once) and a getter
//! returns NULL, as for a NULL ctx. The application sees through its getters
//! that its callback is not in place, memory does not grow with such ctxs,
//! and a later ctx at the same address inherits nothing.

use crate::ffi::callbacks::{Address, Kind};
use crate::ffi::types::SslCtx;
use crate::observe::trace::{self, Route};

/// A setter on such a ctx: traced, not honoured.
pub fn set(kind: Kind, ctx: *mut SslCtx, address: Address) {
    trace::set_event(kind, ctx, address, Route::Unresolved);
}

/// A getter on such a ctx: NULL, since nothing was installed.
pub fn get(_kind: Kind, _ctx: *mut SslCtx) -> Address {
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setter_is_not_honoured_and_nothing_is_kept() {
        // Without the ctx's libssl nothing is installed, so no getter may
        // claim otherwise; and sesscb cannot see such a ctx freed, so a
        // record would outlive it: a new ctx at its address would inherit it.
        let ctx = 0x7000 as *mut SslCtx;
        set(Kind::New, ctx, 0x11);
        set(Kind::Remove, ctx, 0x22);
        for kind in Kind::ALL {
            assert_eq!(get(kind, ctx), 0, "{kind:?}");
        }
    }
}
