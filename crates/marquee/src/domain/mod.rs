//! Pure decisions: no I/O here.

pub mod api_key;
pub mod backoff;
pub mod capacity;
pub mod card;
pub mod images;
pub mod movie;
pub mod score;
pub mod staleness;
pub mod states;
