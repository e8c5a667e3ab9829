//! The states of a work, a queue row and a run: one Rust enum each, with one mapping to the
//! text stored in SQL (the `CHECK` constraints of the migrations list the same words; a test
//! compares them).

/// An enum whose variants are stored as fixed SQL text.
macro_rules! sql_text_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The text stored in SQL.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(text: &str) -> Option<$name> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl From<$name> for crate::ports::Value {
            fn from(v: $name) -> Self {
                crate::ports::Value::Text(v.as_str().to_owned())
            }
        }

        impl crate::ports::FromValue for $name {
            const EXPECTED: &'static str = concat!("text (", stringify!($name), ")");
            fn from_value(value: &crate::ports::Value) -> Result<Self, String> {
                match value {
                    crate::ports::Value::Text(t) => $name::parse(t).ok_or_else(|| format!("unknown {} {t:?}", stringify!($name))),
                    other => Err(format!("{other:?}")),
                }
            }
        }
    };
}

pub(crate) use sql_text_enum;

sql_text_enum! {
    /// `works.ingestion_status`.
    WorkStatus {
        /// Known but never ingested.
        Pending => "pending",
        /// An invocation holds the ingest lease (`lease_owner`, `lease_until`).
        Ingesting => "ingesting",
        /// Ingested; a failed refresh keeps this status and records `last_error`.
        Complete => "complete",
        /// A first ingest failed: nothing about the movie is stored.
        Failed => "failed",
        /// TMDB answered 404.
        Gone => "gone",
        /// Refused by the catalog policy (adult, untitled).
        Rejected => "rejected",
    }
}

sql_text_enum! {
    /// `refresh_queue.status`.
    QueueStatus {
        /// Waiting for `next_attempt_at`.
        Queued => "queued",
        /// Claimed by a runner (`locked_by`) until `lease_until`.
        Processing => "processing",
        Completed => "completed",
        /// Dead: attempts used up, or a permanent error; requeued only on demand.
        Failed => "failed",
    }
}

sql_text_enum! {
    /// `scheduled_ingestion_log.status`.
    RunStatus {
        Running => "running",
        Succeeded => "succeeded",
        /// Finished, but left work undone (queued, failed movies, list errors…).
        Partial => "partial",
        Failed => "failed",
        /// Never closed by its invocation (killed or crashed): closed by a later run once its
        /// deadline had long passed.
        Abandoned => "abandoned",
    }
}

sql_text_enum! {
    /// TMDB's `status` of a movie, stored in `works_meta.release_status` as TMDB spells it.
    /// TMDB may add words: an unknown one parses to `None` and is treated as unknown.
    ReleaseStatus {
        /// Talked about, nothing confirmed (usually no date).
        Rumored => "Rumored",
        /// Announced, not yet shooting.
        Planned => "Planned",
        InProduction => "In Production",
        PostProduction => "Post Production",
        Released => "Released",
        /// Will not be made: nothing about it is expected to change.
        Canceled => "Canceled",
    }
}

impl WorkStatus {
    /// Refused for good: never served, never refetched by the schedule.
    pub fn is_refused(self) -> bool {
        matches!(self, WorkStatus::Gone | WorkStatus::Rejected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_round_trips_through_its_sql_text() {
        for s in WorkStatus::ALL {
            assert_eq!(WorkStatus::parse(s.as_str()), Some(*s));
        }
        for s in QueueStatus::ALL {
            assert_eq!(QueueStatus::parse(s.as_str()), Some(*s));
        }
        for s in RunStatus::ALL {
            assert_eq!(RunStatus::parse(s.as_str()), Some(*s));
        }
        for s in ReleaseStatus::ALL {
            assert_eq!(ReleaseStatus::parse(s.as_str()), Some(*s));
        }
        assert_eq!(ReleaseStatus::parse("In Production"), Some(ReleaseStatus::InProduction));
        assert_eq!(WorkStatus::parse("Complete"), None);
    }
}
