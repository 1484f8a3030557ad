//! One definition per exported function that takes a ctx: [`export!`] makes
//! the exported entry, the implementation it jumps to, and the panic
//! boundary around the body, so none of the three can be left out.
//!
//! The entry is a two-instruction naked function (x86_64, aarch64) that
//! appends its return address as an extra argument and jumps to the
//! implementation: the caller's address tells which libssl made the ctx when
//! a process holds two (see `libssl::resolver::for_caller`). Elsewhere the
//! entry is an ordinary function and the process's first libssl is used.
//!
//! cbindgen cannot see through a macro: the header's prototypes come from
//! the declarations in `abi::prototypes`, which are checked against these.

/// Body of an exported entry: on x86_64/aarch64 a naked tail jump to `$imp`
/// with the return address appended as the next argument (`$x86`/`$arm` is
/// that argument's register); elsewhere a call with caller 0.
macro_rules! with_caller {
    ($x86:ident, $arm:ident, $imp:ident($($arg:ident),*)) => {{
        #[cfg(target_arch = "x86_64")]
        core::arch::naked_asm!(
            concat!("mov ", stringify!($x86), ", qword ptr [rsp]"),
            "jmp {imp}",
            imp = sym $imp,
        );
        #[cfg(target_arch = "aarch64")]
        core::arch::naked_asm!(concat!("mov ", stringify!($arm), ", x30"), "b {imp}", imp = sym $imp);
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        // SAFETY: forwards the caller's own arguments.
        unsafe {
            $imp($($arg,)* std::ptr::null())
        }
    }};
}

/// ```text
/// export! {
///     /// docs
///     fn NAME(args...) -> Ret;
///     IMPL(caller) { body }
/// }
/// ```
/// makes `NAME` (exported, unmangled, naked where supported) and `IMPL`,
/// which runs `body` inside [`ffi_boundary!`] with `caller` bound to the
/// caller's return address as a `usize` (0 if unknown). Before the body it
/// hands sesscb's SSL_CTX ex_data free function to the resolver, so no
/// libssl is ever used without it.
macro_rules! export {
    (
        $(#[$attr:meta])*
        fn $name:ident($($arg:ident: $ty:ty),+) $(-> $ret:ty)?;
        $imp:ident($caller:ident) $body:block
    ) => {
        $(#[$attr])*
        #[unsafe(no_mangle)]
        #[cfg_attr(any(target_arch = "x86_64", target_arch = "aarch64"), unsafe(naked))]
        pub unsafe extern "C" fn $name($($arg: $ty),+) $(-> $ret)? {
            export!(@entry $imp($($arg),+))
        }

        unsafe extern "C" fn $imp($($arg: $ty,)+ $caller: *const ::std::ffi::c_void) $(-> $ret)? {
            ffi_boundary!(stringify!($name), {
                $crate::libssl::resolver::use_ctx_free_fn($crate::abi::ctx_free::ctx_ex_data_free);
                let $caller = $caller as usize;
                $body
            })
        }
    };
    // The return address goes in the register of the first unused argument.
    (@entry $imp:ident($a:ident)) => { with_caller!(rsi, x1, $imp($a)) };
    (@entry $imp:ident($a:ident, $b:ident)) => { with_caller!(rdx, x2, $imp($a, $b)) };
}
