//! The safety net under request decoding: a panic raised while a request is decoded (some of
//! ruma's hand-written deserializers index JSON objects and panic on a missing key) becomes a
//! value the extractor answers with 400, instead of a dropped connection and a backtrace in
//! the log. Only decoding runs under the net; a panic anywhere else keeps Rust's default
//! report.

use std::{
    any::Any,
    cell::Cell,
    panic::{self, AssertUnwindSafe},
    sync::Once,
};

thread_local! {
    /// Set while this thread decodes a request under the net: the panic hook stays quiet.
    static UNDER_NET: Cell<bool> = const { Cell::new(false) };
}

static QUIET_HOOK: Once = Once::new();

/// Installs (once per process) a panic hook that says nothing for panics caught by the net
/// and hands every other panic to the hook that was there before.
fn install_quiet_hook() {
    QUIET_HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !UNDER_NET.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

/// The text a panic was raised with.
fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// Runs `decode`; a panic inside it is returned as its message.
pub fn catch_decode_panic<R>(decode: impl FnOnce() -> R) -> Result<R, String> {
    install_quiet_hook();
    let was = UNDER_NET.with(|flag| flag.replace(true));
    let outcome = panic::catch_unwind(AssertUnwindSafe(decode));
    UNDER_NET.with(|flag| flag.set(was));
    outcome.map_err(|payload| panic_message(payload.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_its_message() {
        let caught = catch_decode_panic(|| -> u8 { panic!("missing key `type`") });
        assert_eq!(caught, Err("missing key `type`".to_owned()));
        let formatted = catch_decode_panic(|| -> u8 { panic!("key {}", 7) });
        assert_eq!(formatted, Err("key 7".to_owned()));
    }

    #[test]
    fn no_panic_passes_the_value_through() {
        assert_eq!(catch_decode_panic(|| 5), Ok(5));
        // The flag is cleared again: later panics are reported as before.
        assert!(!UNDER_NET.with(Cell::get));
    }
}
