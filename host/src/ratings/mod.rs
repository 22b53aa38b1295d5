//! Ratings: a pure function of the public statements, so that anyone
//! recomputes the same numbers (design.md §3, step 5).

mod gauntlet;
mod openskill;

pub use gauntlet::{entry_score, EntryScore, Gauntlet, Standing, OWN_FACTOR, UNSCORED};
pub use openskill::{PlackettLuce, Rated, Rating};
