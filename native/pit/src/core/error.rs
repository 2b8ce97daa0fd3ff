//! The error type shared by every component. Each variant maps to one Python exception class.

use thiserror::Error;

/// Everything that can go wrong in the Pit. Messages name the pool, artifact, node or field at fault.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum PitError {
    /// The caller passed something malformed or not allowed in the current state.
    #[error("{0}")]
    Validation(String),
    /// A request does not fit in the capacity that is left.
    #[error("{0}")]
    ResourceExhausted(String),
    /// An id or name that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// Stored data failed its integrity check (hash mismatch, undecodable record).
    #[error("{0}")]
    Integrity(String),
    /// Work was cancelled before it finished.
    #[error("{0}")]
    Cancelled(String),
    /// Disk or database failure.
    #[error("{0}")]
    Storage(String),
    /// A broken invariant inside the Pit: always a bug.
    #[error("{0}")]
    Internal(String),
}

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, PitError>;

impl PitError {
    pub fn validation(msg: impl Into<String>) -> Self {
        PitError::Validation(msg.into())
    }
    pub fn not_found(msg: impl Into<String>) -> Self {
        PitError::NotFound(msg.into())
    }
}

impl From<rusqlite::Error> for PitError {
    fn from(e: rusqlite::Error) -> Self {
        PitError::Storage(format!("metadata database: {e}"))
    }
}

impl From<std::io::Error> for PitError {
    fn from(e: std::io::Error) -> Self {
        PitError::Storage(format!("i/o: {e}"))
    }
}

/// Text read from a document that may not be what it claims (a level, a manifest), as an error
/// message may show it: a short name-like word is quoted (`"nope"`), anything else (a line of a
/// password file, say) is only described, so loading the wrong file never echoes its contents.
pub fn shown(text: &str) -> String {
    let name_like = text.len() <= 40
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ' '));
    if name_like {
        format!("{text:?}")
    } else {
        format!("of {} characters (not shown)", text.chars().count())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_name_like_text_is_shown() {
        assert_eq!(super::shown("colour"), "\"colour\"");
        assert_eq!(
            super::shown("root:$6$salt$hash:19000:0:99999:7:::"),
            "of 36 characters (not shown)"
        );
    }
}
