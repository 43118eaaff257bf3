//! Wait until a set of things (partition queues, actors) is dropped, on any thread.

use std::time::Duration;

use tokio::sync::mpsc;

/// Held by each thing waited for; dropping the last one ends [`WaitGroup::wait`].
#[derive(Debug, Clone)]
pub(crate) struct Token {
    _sender: mpsc::Sender<()>,
}

#[derive(Debug)]
pub(crate) struct WaitGroup {
    /// The source of tokens; dropped when the wait starts.
    sender: Option<mpsc::Sender<()>>,
    /// Closes when the last token is dropped.
    receiver: mpsc::Receiver<()>,
}

impl WaitGroup {
    pub(crate) fn new() -> Self {
        let (sender, receiver) = mpsc::channel(1);
        WaitGroup {
            sender: Some(sender),
            receiver,
        }
    }

    pub(crate) fn token(&self) -> Option<Token> {
        self.sender.as_ref().map(|sender| Token {
            _sender: sender.clone(),
        })
    }

    /// Wait for every token to be dropped; false if `timeout` passed first.
    pub(crate) async fn wait(mut self, timeout: Duration) -> bool {
        self.sender = None;
        // Nothing is ever sent: `recv` ends with `None` once no sender is left.
        tokio::time::timeout(timeout, self.receiver.recv())
            .await
            .is_ok()
    }
}
