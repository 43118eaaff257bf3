//! Logging: `tracing` to stderr, filtered by `RUST_LOG` (default `info`). Stdout is left
//! to the commands' own output (`coolriel replay` prints its counts there).
//!
//! Human-readable by default, one JSON object per line with `LOG_FORMAT=json` (the
//! current span's fields included, as the store's logs, so every line about a message
//! carries its `event_id`, topic, partition and offset). Colours only when stderr is a
//! terminal: a log redirected to a file (`logs/coolriel.log`) has no escape codes.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

/// The output format `LOG_FORMAT` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    /// `json` (any case) is JSON; anything else, or nothing, is text.
    pub fn from_setting(value: Option<&str>) -> Self {
        match value {
            Some(value) if value.trim().eq_ignore_ascii_case("json") => LogFormat::Json,
            _ => LogFormat::Text,
        }
    }
}

/// Install the global subscriber; a second call (tests) is a no-op.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let format = LogFormat::from_setting(std::env::var("LOG_FORMAT").ok().as_deref());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_json_selects_json() {
        assert_eq!(LogFormat::from_setting(Some("json")), LogFormat::Json);
        assert_eq!(LogFormat::from_setting(Some(" JSON ")), LogFormat::Json);
        assert_eq!(LogFormat::from_setting(Some("text")), LogFormat::Text);
        assert_eq!(LogFormat::from_setting(Some("")), LogFormat::Text);
        assert_eq!(LogFormat::from_setting(None), LogFormat::Text);
    }
}
