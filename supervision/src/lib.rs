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
//! - [`panic_message`]: the text of a caught panic, for the restart's log line.

mod budget;
mod fault;

pub use budget::{BudgetExhausted, RestartBudget, RestartPolicy};
pub use fault::{FaultHook, FaultPlan, FaultPlanError};

use std::any::Any;

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
}
