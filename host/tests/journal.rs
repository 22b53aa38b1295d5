//! The journal across crashes: dropped and reopened after every step, it
//! always says what to do next, and it never allows a second submission.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use vram_host::journal::{Journal, NextStep, WindowState};
use vram_test_support::TempDir;

/// A fresh journal path; the folder lives as long as the first value.
fn path(tag: &str) -> (TempDir, PathBuf) {
    let dir = TempDir::new(&format!("journal-{tag}")).unwrap();
    let p = dir.join("journal.sqlite");
    (dir, p)
}

#[test]
fn a_crash_after_any_step_resumes_at_the_right_step() {
    let (_dir, p) = path("resume");
    type Step = Box<dyn Fn(&Journal)>;
    let steps: Vec<Step> = vec![
        Box::new(|j| j.open_window(5, b"inputs", 1).unwrap()),
        Box::new(|j| j.record_statement(5, b"statement", b"sig", 2).unwrap()),
        Box::new(|j| j.begin_submission(5, "DIGEST", b"tx", 3).unwrap()),
        Box::new(|j| j.finish(5, Ok("checkpoint 123"), 4).unwrap()),
    ];
    let expected = [
        NextStep::Score,
        NextStep::Submit {
            statement: b"statement".to_vec(),
            signature: b"sig".to_vec(),
        },
        NextStep::Confirm {
            digest: "DIGEST".into(),
            transaction: b"tx".to_vec(),
        },
        NextStep::Done,
    ];
    assert_eq!(
        Journal::open(&p).unwrap().next_step(5).unwrap(),
        NextStep::Score
    );
    for (step, want) in steps.iter().zip(&expected) {
        {
            let j = Journal::open(&p).unwrap();
            step(&j);
        } // the process "crashes": the connection is gone
        let j = Journal::open(&p).unwrap();
        assert_eq!(&j.next_step(5).unwrap(), want);
        // Replaying the same step after the crash is harmless.
        step(&j);
        assert_eq!(&j.next_step(5).unwrap(), want);
    }
    let rec = Journal::open(&p).unwrap().get(5).unwrap().unwrap();
    assert_eq!(rec.state, WindowState::Submitted);
    assert_eq!(rec.tx_digest.as_deref(), Some("DIGEST"));
    assert_eq!(rec.outcome.as_deref(), Some("checkpoint 123"));
}

#[test]
fn a_second_submission_is_refused() {
    let (_dir, p) = path("double");
    let j = Journal::open(&p).unwrap();
    j.open_window(8, b"in", 1).unwrap();
    assert!(
        j.begin_submission(8, "D1", b"tx", 2).is_err(),
        "no statement yet"
    );
    j.record_statement(8, b"s", b"sig", 2).unwrap();
    j.begin_submission(8, "D1", b"tx1", 3).unwrap();
    assert!(j.begin_submission(8, "D2", b"tx2", 4).is_err());
    j.finish(8, Ok("ok"), 5).unwrap();
    assert!(j.begin_submission(8, "D3", b"tx3", 6).is_err());
    assert!(j.record_statement(8, b"another", b"sig", 7).is_err());
    assert!(j.open_window(8, b"other inputs", 8).is_err());
}

#[test]
fn failures_are_final_and_listed() {
    let (_dir, p) = path("list");
    let j = Journal::open(&p).unwrap();
    for w in 1..=3u64 {
        j.open_window(w, b"in", w).unwrap();
    }
    j.finish(2, Err("deadline passed before the statement was ready"), 9)
        .unwrap();
    assert_eq!(j.next_step(2).unwrap(), NextStep::Done);
    let recent = j.recent(2).unwrap();
    assert_eq!(
        recent.iter().map(|r| r.window).collect::<Vec<_>>(),
        vec![3, 2]
    );
    assert_eq!(recent[1].state, WindowState::Failed);
}
