//! The FFI edge: no Rust panic may unwind into the host (since Rust 1.81 it
//! would abort nginx), so every exported function runs inside
//! [`ffi_boundary!`] (the `export!` macro puts it there), which turns a
//! panic into a documented harmless value. The trampolines' own code catches
//! panics in `dispatch::forward`.

use std::ffi::c_int;

/// The value an exported function returns if sesscb's own code panicked.
pub trait PanicDefault {
    fn panic_default() -> Self;
}

impl PanicDefault for () {
    fn panic_default() {}
}

impl PanicDefault for c_int {
    /// `sesscb_stats` reports an internal error.
    fn panic_default() -> Self {
        crate::observe::stats::STATUS_INTERNAL_ERROR
    }
}

impl<T> PanicDefault for *const T {
    fn panic_default() -> Self {
        std::ptr::null()
    }
}

impl<T> PanicDefault for Option<T> {
    fn panic_default() -> Self {
        None
    }
}

/// Runs the body; a panic is logged (when logging is on) and replaced by the
/// return type's [`PanicDefault`].
macro_rules! ffi_boundary {
    ($what:expr, $body:block) => {
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| $body)) {
            Ok(value) => value,
            Err(_) => {
                $crate::observe::trace::panic_caught($what);
                $crate::abi::boundary::PanicDefault::panic_default()
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use std::ffi::c_int;

    #[test]
    fn a_panic_becomes_the_documented_default_instead_of_unwinding() {
        let status: c_int = ffi_boundary!("test", { panic!("sesscb bug") });
        assert_eq!(status, crate::observe::stats::STATUS_INTERNAL_ERROR);
        let pointer: *const u8 = ffi_boundary!("test", { panic!("sesscb bug") });
        assert!(pointer.is_null());
        let callback: Option<unsafe extern "C" fn()> = ffi_boundary!("test", { panic!("sesscb bug") });
        assert!(callback.is_none());
        let unit: () = ffi_boundary!("test", { panic!("sesscb bug") });
        assert_eq!(unit, ());
        let fine: c_int = ffi_boundary!("test", { 7 });
        assert_eq!(fine, 7);
    }
}
