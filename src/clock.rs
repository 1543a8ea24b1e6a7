//! The one clock: whole seconds since the Unix epoch, as JWT NumericDates count them.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in seconds since the Unix epoch; 0 if the system clock is before it.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
