//! Callbacks recorded while no real libssl can be found (defined answer for
//! a process where sesscb is loaded but libssl is not reachable): setters
//! only record, getters return what was recorded.

use crate::ffi::callbacks::{Address, Kind};
use crate::ffi::types::SslCtx;
use crate::sync::fork_aware_lock::ForkAwareLock;

struct Recorded {
    ctx: usize,
    callbacks: [Address; 3],
}

static LOCK: ForkAwareLock = ForkAwareLock::new();
static mut RECORDED: Vec<Recorded> = Vec::new();

fn with_records<R>(f: impl FnOnce(&mut Vec<Recorded>) -> R) -> R {
    let _guard = LOCK.lock();
    // SAFETY: RECORDED is only ever touched here, under LOCK.
    f(unsafe { &mut *std::ptr::addr_of_mut!(RECORDED) })
}

pub fn record(kind: Kind, ctx: *mut SslCtx, address: Address) {
    with_records(|records| {
        let key = ctx as usize;
        match records.iter_mut().find(|r| r.ctx == key) {
            Some(r) => r.callbacks[kind.index()] = address,
            None => {
                let mut callbacks = [0; 3];
                callbacks[kind.index()] = address;
                records.push(Recorded { ctx: key, callbacks });
            }
        }
    })
}

pub fn lookup(kind: Kind, ctx: *mut SslCtx) -> Address {
    with_records(|records| {
        records.iter().find(|r| r.ctx == ctx as usize).map_or(0, |r| r.callbacks[kind.index()])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_per_ctx_and_kind() {
        let a = 0x7000 as *mut SslCtx;
        let b = 0x7100 as *mut SslCtx;
        record(Kind::New, a, 0x11);
        record(Kind::Get, a, 0x22);
        record(Kind::New, b, 0x33);
        assert_eq!(lookup(Kind::New, a), 0x11);
        assert_eq!(lookup(Kind::Get, a), 0x22);
        assert_eq!(lookup(Kind::Remove, a), 0);
        assert_eq!(lookup(Kind::New, b), 0x33);
        record(Kind::New, a, 0);
        assert_eq!(lookup(Kind::New, a), 0);
        assert_eq!(lookup(Kind::New, 0x7200 as *mut SslCtx), 0);
    }
}
