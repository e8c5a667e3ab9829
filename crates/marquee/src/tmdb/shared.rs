//! Where the rate one invocation learned from TMDB's 429s is shared with every other
//! invocation and instance: TMDB's limit is per IP, not per invocation.
//!
//! An invocation reads the shared lesson once, lazily, before its first TMDB request (never per
//! request), starts from it, and writes its own lesson when it lowers the rate after a 429
//! (while the throttled request waits anyway) or, if that could not be written then, when the
//! run closes. Nothing is written when an invocation only climbed back: the climb is a pure
//! function of the time since the lesson ([`super::ratelimit::LearnedRate::rate_at`]), so the
//! stored lesson already says it. A missing or unreadable lesson means "start at the ceiling".
//!
//! Lessons carry their age rather than an instant so that the store (PostgreSQL) measures time
//! by one clock, its own, whatever the instances' clocks say.

use std::time::Duration;

use futures::future::LocalBoxFuture;

/// A lesson as stored: TMDB accepted about `rps`, `age` ago.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SharedLesson {
    pub rps: f64,
    pub age: Duration,
}

/// The store of the shared lesson (object-safe: the TMDB client holds it without knowing the
/// database type). Failures are the store's to log; they only mean "not shared".
pub trait SharedRate {
    /// The newest lesson, if one is stored and readable.
    fn read(&self) -> LocalBoxFuture<'_, Option<SharedLesson>>;
    /// Stores `lesson` unless a newer one is stored (one guarded statement). `false`: it could
    /// not be written (not: it was older).
    fn write(&self, lesson: SharedLesson) -> LocalBoxFuture<'_, bool>;
}
