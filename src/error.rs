//! The one error type of the public API. Each variant maps to one C status code.

use std::fmt;

/// Marked `#[non_exhaustive]`: a minor version may add a variant, so a `match` on
/// it outside lb needs a wildcard arm.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Nothing can be selected: the set is empty, or every instance is at capacity
    /// or unhealthy (outside panic mode).
    NoInstance,
    /// Nothing can be selected, and at least one instance was passed over only
    /// because it holds [`IN_FLIGHT_MAX`](crate::IN_FLIGHT_MAX) picks (the ceiling
    /// that also bounds capacity 0, "unlimited").
    InFlightLimit,
    /// No instance with this id in the current set.
    UnknownInstance(u64),
    /// The same id twice in one set.
    DuplicateInstance(u64),
    /// A pick that is not from this balancer, corrupted, forged, expired, or a
    /// detected second report.
    InvalidPick,
    /// A value out of range; `field` names it.
    InvalidArgument {
        /// The parameter or `Config` field at fault.
        field: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
}

impl Error {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidArgument {
            field,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoInstance => write!(f, "no instance can be selected"),
            Error::InFlightLimit => write!(
                f,
                "no instance can be selected: in-flight ceiling ({}) reached",
                crate::IN_FLIGHT_MAX
            ),
            Error::UnknownInstance(id) => write!(f, "no instance with id {id} in the set"),
            Error::DuplicateInstance(id) => write!(f, "instance id {id} appears twice"),
            Error::InvalidPick => write!(
                f,
                "pick is not from this balancer, corrupted, expired or already reported"
            ),
            Error::InvalidArgument { field, reason } => write!(f, "invalid {field}: {reason}"),
        }
    }
}

impl std::error::Error for Error {}

/// Why the request path refused a call: the internal, `Copy` form of the errors
/// select and report can return, so the request path carries no drop glue; it
/// becomes an [`Error`] (or a C status) at the edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    NoInstance,
    InFlightLimit,
    InvalidPick,
}

impl From<Refused> for Error {
    #[inline]
    fn from(r: Refused) -> Error {
        match r {
            Refused::NoInstance => Error::NoInstance,
            Refused::InFlightLimit => Error::InFlightLimit,
            Refused::InvalidPick => Error::InvalidPick,
        }
    }
}
