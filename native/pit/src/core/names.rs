//! Names of pools, models, tags, runs and nodes: the one check they all pass.

use super::error::{PitError, Result};

/// Validate a user-chosen name (pool, model, workflow, node): non-empty, printable, bounded.
pub fn check_name(what: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(PitError::validation(format!(
            "{what} name must not be empty"
        )));
    }
    if name.len() > 256 {
        return Err(PitError::validation(format!(
            "{what} name is {} bytes long; the limit is 256",
            name.len()
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(PitError::validation(format!(
            "{what} name {name:?} contains control characters"
        )));
    }
    Ok(())
}
