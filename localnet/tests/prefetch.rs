//! The host's blob prefetcher against the local Walrus: each distinct hash
//! is fetched once whatever the number of commitments naming it, blobs live
//! on disk (checked when read back), a failed fetch is tried again when
//! asked, and the folder keeps only the windows still wanted.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use vram_attestation::sha256;
use vram_host::bundle::blob_path;
use vram_host::chain::types::Commitment;
use vram_host::validator::prefetch::{Fetched, Prefetcher};
use vram_host::walrus::{BlobId, RetryPolicy, WalrusClient};
use vram_localnet::blobstore::BlobStore;
use vram_test_support::TempDir;

fn commitment(id: &BlobId, bytes: &[u8]) -> Commitment {
    Commitment {
        blob_id: id.0.to_vec(),
        sha256: sha256(bytes).to_vec(),
        committed_ms: 0,
    }
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(20)
}

#[test]
fn attack_2000_copies_of_one_blob_hash_are_fetched_once_and_kept_on_disk() {
    let dir = TempDir::new("prefetch").unwrap();
    let store = BlobStore::start(&dir.join("walrus"), "127.0.0.1:0", 1 << 20).unwrap();
    let walrus = WalrusClient::new(
        &[store.url()],
        &[store.url()],
        RetryPolicy {
            rounds: 1,
            backoff: Duration::from_millis(10),
            request_timeout: Duration::from_secs(5),
        },
    )
    .unwrap();
    let blob = vec![7u8; 300_000];
    let id = walrus.store(&blob, 1).unwrap();
    let hash = sha256(&blob);
    // One hash committed by 2000 uids.
    let copies: Vec<(u64, Commitment)> =
        (0..2000).map(|uid| (uid, commitment(&id, &blob))).collect();
    let cache = dir.join("cache");
    let mut p = Prefetcher::new(&cache, &walrus, 4).unwrap();
    p.want(5, &copies, 1 << 20, false);
    let states = p.wait(&BTreeSet::from([hash]), soon());
    assert_eq!(states[&hash], Fetched::Stored);
    assert_eq!(p.read(&hash).unwrap(), blob);
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 1, "one file");

    // Gone from Walrus: the next window naming the same hash needs no fetch.
    std::fs::remove_file(blob_path(&dir.join("walrus"), &id)).unwrap();
    p.want(6, &copies[..10], 1 << 20, true);
    let states = p.wait(&BTreeSet::from([hash]), soon());
    assert_eq!(states[&hash], Fetched::Stored);
    assert_eq!(p.read(&hash).unwrap(), blob);

    // A blob that is not on Walrus fails; once stored, a retry gets it.
    let late = vec![9u8; 1000];
    let late_id = BlobId(sha256(b"not stored yet"));
    let late_hash = sha256(&late);
    p.want(6, &[(1, commitment(&late_id, &late))], 1 << 20, false);
    let states = p.wait(&BTreeSet::from([late_hash]), soon());
    assert!(
        matches!(states[&late_hash], Fetched::Failed(_)),
        "{states:?}"
    );
    let stored_id = walrus.store(&late, 1).unwrap();
    p.want(6, &[(1, commitment(&stored_id, &late))], 1 << 20, true);
    let states = p.wait(&BTreeSet::from([late_hash]), soon());
    assert_eq!(states[&late_hash], Fetched::Stored);

    // A tampered cache file is refused on read and dropped.
    std::fs::write(cache.join(hex::encode(late_hash)), b"tampered").unwrap();
    assert!(p.read(&late_hash).is_err());
    assert!(!cache.join(hex::encode(late_hash)).exists());

    // Windows 5 and 6 done: nothing is kept.
    p.done_before(7);
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 0);
}
