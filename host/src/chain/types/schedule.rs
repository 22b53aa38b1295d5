//! The whole Hparams schedule: every segment ever in force, as an auditor
//! rebuilds it from the genesis values and the `HparamsUpdated` events.

use serde::{Deserialize, Serialize};
use vram_enclave::eval::EvalParams;

use super::{HparamValues, Segment, WindowTimes};

/// Every segment the Hparams ever held, oldest first: what an auditor
/// rebuilds from the genesis values and the `HparamsUpdated` events, so that
/// each window is judged by the values in force for it, not today's.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Schedule {
    /// The segments, ascending `start_window`.
    pub segments: Vec<Segment>,
}

impl Schedule {
    /// A schedule starting with `genesis`.
    pub fn new(genesis: Segment) -> Self {
        Self {
            segments: vec![genesis],
        }
    }

    /// Applies an update as `hparams::update_hparams` does: a segment that
    /// had not taken effect (at or after the new start) is replaced.
    pub fn push(&mut self, segment: Segment) {
        self.segments
            .retain(|s| s.start_window < segment.start_window);
        self.segments.push(segment);
    }

    /// The segment in force for `window`.
    pub fn segment_for_window(&self, window: u64) -> Option<&Segment> {
        self.segments
            .iter()
            .rev()
            .find(|s| s.start_window <= window)
    }

    /// The values in force for `window`.
    pub fn values(&self, window: u64) -> Option<&HparamValues> {
        self.segment_for_window(window).map(|s| &s.values)
    }

    /// `(window_start, upload_deadline, window_end)` of `window`.
    pub fn times(&self, window: u64) -> Option<WindowTimes> {
        let s = self.segment_for_window(window)?;
        let start_ms = (window - s.start_window)
            .checked_mul(s.values.window_duration_ms)?
            .checked_add(s.start_ms)?;
        Some(WindowTimes {
            start_ms,
            upload_deadline_ms: start_ms.checked_add(s.values.put_window_open_ms)?,
            end_ms: start_ms.checked_add(s.values.window_duration_ms)?,
        })
    }

    /// `hparams::eval_params(window)` from the values in force then.
    pub fn eval_params(&self, window: u64) -> Option<EvalParams> {
        Some(
            self.values(window)?
                .eval_params(self.times(window)?.upload_deadline_ms),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(start_window: u64, start_ms: u64, max_scored: u64) -> Segment {
        Segment {
            start_window,
            start_ms,
            values: HparamValues {
                max_scored,
                ..HparamValues::defaults()
            },
        }
    }

    #[test]
    fn a_schedule_judges_each_window_by_the_values_in_force_then() {
        let mut s = Schedule::new(segment(0, 0, 10));
        s.push(segment(6, 3_600_000, 20));
        // Replaced before it took effect (a second update in window 5).
        s.push(segment(6, 3_600_000, 30));
        s.push(segment(9, 5_400_000, 40));
        assert_eq!(s.segments.len(), 3);
        assert_eq!(s.values(5).map(|v| v.max_scored), Some(10));
        assert_eq!(s.values(6).map(|v| v.max_scored), Some(30));
        assert_eq!(s.values(100).map(|v| v.max_scored), Some(40));
        let p = s.eval_params(7).unwrap();
        assert_eq!(p.max_scored, 30);
        assert_eq!(p.upload_deadline_ms, 3_600_000 + 600_000 + 480_000);
    }
}
