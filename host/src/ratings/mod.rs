//! Ratings: a pure function of the public statements, so that anyone
//! recomputes the same numbers (DESIGN 3, step 5).

mod openskill;

pub use openskill::{PlackettLuce, Rated, Rating};
