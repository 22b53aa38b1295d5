//! The one error type of the host library.

use thiserror::Error;

/// What the host library can refuse.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum Error {
    /// A rating update was asked with inputs it cannot rate.
    #[error("ratings: {reason}")]
    Ratings {
        /// What is wrong.
        reason: String,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
