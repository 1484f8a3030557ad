//! The three callback kinds, and callback pointers held as plain addresses so
//! they fit in atomics (0 means "no callback").

use crate::ffi::types::{GetSessionCb, NewSessionCb, RemoveSessionCb};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    New = 0,
    Remove = 1,
    Get = 2,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::New, Kind::Remove, Kind::Get];

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::New => "new",
            Kind::Remove => "remove",
            Kind::Get => "get",
        }
    }
}

/// A callback of any kind as an address; 0 is NULL.
pub type Address = usize;

pub fn new_address(cb: NewSessionCb) -> Address {
    cb.map_or(0, |f| f as usize)
}

pub fn remove_address(cb: RemoveSessionCb) -> Address {
    cb.map_or(0, |f| f as usize)
}

pub fn get_address(cb: GetSessionCb) -> Address {
    cb.map_or(0, |f| f as usize)
}

/// Turns an address that sesscb stored from a `NewSessionCb` back into one.
pub fn new_from_address(address: Address) -> NewSessionCb {
    // SAFETY: `Option<fn>` has the size and niche of a pointer; every non-zero
    // address stored for Kind::New came from a `NewSessionFn` (or is a
    // function the application gave us as one).
    unsafe { std::mem::transmute::<Address, NewSessionCb>(address) }
}

pub fn remove_from_address(address: Address) -> RemoveSessionCb {
    // SAFETY: as in `new_from_address`, for Kind::Remove.
    unsafe { std::mem::transmute::<Address, RemoveSessionCb>(address) }
}

pub fn get_from_address(address: Address) -> GetSessionCb {
    // SAFETY: as in `new_from_address`, for Kind::Get.
    unsafe { std::mem::transmute::<Address, GetSessionCb>(address) }
}
