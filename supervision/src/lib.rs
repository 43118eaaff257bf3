//! What both services need to supervise their actors, beyond actix's `Supervisor`:
//!
//! - [`RestartBudget`]: how many actor restarts a process tolerates within a window
//!   ([`RestartPolicy`]). Past it the process stops restarting in a loop: it reports
//!   itself not ready and exits non-zero, so whatever runs it (systemd, Kubernetes,
//!   compose) sees the failure instead of a process that spins.
//! - [`FaultHook`]: the test-only fault injection that makes an actor panic on purpose,
//!   armed by a test in the same process ([`FaultHook::arm`]) or by a setting that only
//!   tests and the chaos runs set ([`FaultPlan`]). Production never sets it, and an unset
//!   hook never fires.
//! - [`catch_panic`]: run one step of an actor's work, a panic turned into its text (the
//!   actor then stops itself so that its supervisor restarts it).
//! - [`wait_for_signal`]: SIGTERM or SIGINT, the start of a bounded shutdown.

mod budget;
mod fault;

pub use budget::{BudgetExhausted, RestartBudget, RestartPolicy};
pub use fault::{FaultHook, FaultPlan, FaultPlanError};

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// The text of a panic payload (`panic!` gives a `&str` or a `String`).
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "non-text panic payload".to_owned()
    }
}

/// Runs `step`; a panic in it comes back as its text. The caller owns the state the panic
/// may have left half-updated, and must throw it away (an actor: stop for a restart).
pub fn catch_panic<T>(step: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(step)).map_err(|panic| panic_message(panic.as_ref()))
}

/// Resolves with the signal's name at the first SIGTERM or SIGINT.
pub async fn wait_for_signal() -> std::io::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(tokio::select! {
        _ = terminate.recv() => "SIGTERM",
        _ = interrupt.recv() => "SIGINT",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_messages_are_read_from_both_payload_kinds() {
        let text = std::panic::catch_unwind(|| panic!("plain")).expect_err("panicked");
        assert_eq!(panic_message(text.as_ref()), "plain");
        let formatted = std::panic::catch_unwind(|| panic!("offset {}", 7)).expect_err("panicked");
        assert_eq!(panic_message(formatted.as_ref()), "offset 7");
    }

    #[test]
    fn catch_panic_gives_the_value_or_the_panic_text() {
        assert_eq!(catch_panic(|| 7), Ok(7));
        assert_eq!(
            catch_panic(|| -> u8 { panic!("broken") }),
            Err("broken".to_owned())
        );
    }
}
