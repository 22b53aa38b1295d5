//! Inputs by reference against the local Walrus: a checkpoint and a dataset
//! published in shards are fetched into empty caches by the ids alone; a
//! tampered shard, an oversized shard, a file list for another checkpoint
//! and a dataset index that lies about its size are each refused, and the
//! cache never holds what was refused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use vram_host::inputs::{publish_checkpoint, publish_dataset, InputStore};
use vram_host::sources::{CheckpointFiles, Dataset};
use vram_host::walrus::transport::ShardManifest;
use vram_host::walrus::{BlobId, RetryPolicy, WalrusClient};
use vram_localnet::blobstore::BlobStore;
use vram_localnet::demo::corpus::synthetic_pages;
use vram_test_support::{TempDir, TinyCheckpoint};

/// Small requests, so the tiny checkpoint travels as several shards.
const MAX_REQUEST: u64 = 16 * 1024;

struct Net {
    dir: TempDir,
    walrus: WalrusClient,
    _store: BlobStore,
}

fn net(tag: &str) -> Net {
    let dir = TempDir::new(tag).unwrap();
    let store = BlobStore::start(&dir.join("blobs"), "127.0.0.1:0", MAX_REQUEST).unwrap();
    let policy = RetryPolicy {
        rounds: 1,
        backoff: Duration::from_millis(10),
        request_timeout: Duration::from_secs(10),
    };
    let walrus = WalrusClient::new(&[store.url()], &[store.url()], policy)
        .unwrap()
        .with_max_request_bytes(MAX_REQUEST);
    Net {
        dir,
        walrus,
        _store: store,
    }
}

fn fresh(net: &Net, name: &str) -> InputStore {
    InputStore::new(
        &net.dir.join(name).join("checkpoints"),
        &net.dir.join(name).join("datasets"),
        net.walrus.clone(),
    )
    .unwrap()
}

/// The shards the manifest at `id` lists (the content's blob must be one).
fn shards(net: &Net, id: &BlobId) -> Vec<BlobId> {
    let bytes = std::fs::read(net.dir.join("blobs").join(id.to_string())).unwrap();
    let m: ShardManifest = serde_json::from_slice(&bytes).unwrap();
    m.shards
        .iter()
        .map(|s| s.blob_id.parse().unwrap())
        .collect()
}

fn weights_blob(net: &Net, list: &BlobId) -> BlobId {
    let bytes = std::fs::read(net.dir.join("blobs").join(list.to_string())).unwrap();
    let list: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    list["files"][0]["blob_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn an_empty_machine_fetches_sharded_inputs_by_their_ids() {
    let net = net("inputs-ok");
    let tiny = TinyCheckpoint::new(3).unwrap();
    assert!(
        tiny.weights.len() as u64 > 2 * MAX_REQUEST,
        "the test needs shards"
    );
    let (hash, list) = publish_checkpoint(
        &net.walrus,
        &CheckpointFiles::single(tiny.weights.clone(), tiny.config_json.clone()),
        1,
    )
    .unwrap();
    assert_eq!(hash, tiny.hash);
    assert!(shards(&net, &weights_blob(&net, &list)).len() >= 3);
    let dataset = Dataset::new(synthetic_pages(1, 256, 65, 300)).unwrap();
    let (root, index) = publish_dataset(&net.walrus, &dataset, 1).unwrap();

    let store = fresh(&net, "validator");
    let got = store
        .checkpoint(&hash, &list)
        .unwrap()
        .into_single()
        .unwrap();
    assert_eq!(got, (tiny.weights.clone(), tiny.config_json.clone()));
    let got = store.dataset(&root, &index, 300, 65).unwrap();
    assert_eq!(got.manifest(), dataset.manifest());
    // Cached by hash: a second machine state reads it without the network.
    drop(net._store);
    assert!(store.checkpoint(&hash, &list).is_ok());
    assert!(store.dataset(&root, &index, 300, 65).is_ok());
}

#[test]
fn a_tampered_shard_is_refused() {
    let net = net("inputs-tampered");
    let tiny = TinyCheckpoint::new(4).unwrap();
    let (hash, list) = publish_checkpoint(
        &net.walrus,
        &CheckpointFiles::single(tiny.weights.clone(), tiny.config_json.clone()),
        1,
    )
    .unwrap();
    let shard = shards(&net, &weights_blob(&net, &list))[1];
    let path = net.dir.join("blobs").join(shard.to_string());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let store = fresh(&net, "validator");
    let err = store.checkpoint(&hash, &list).unwrap_err().to_string();
    assert!(err.contains("do not match"), "{err}");
    assert_eq!(
        std::fs::read_dir(net.dir.join("validator/checkpoints"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn an_oversized_shard_is_refused_unread() {
    let net = net("inputs-oversized");
    let tiny = TinyCheckpoint::new(5).unwrap();
    let (hash, list) = publish_checkpoint(
        &net.walrus,
        &CheckpointFiles::single(tiny.weights.clone(), tiny.config_json.clone()),
        1,
    )
    .unwrap();
    let shard = shards(&net, &weights_blob(&net, &list))[0];
    // The store serves whatever is in its folder: a hostile aggregator.
    std::fs::write(
        net.dir.join("blobs").join(shard.to_string()),
        vec![0u8; MAX_REQUEST as usize * 4],
    )
    .unwrap();
    let err = fresh(&net, "validator")
        .checkpoint(&hash, &list)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the cap is") || err.contains("more than the cap"),
        "{err}"
    );
}

#[test]
fn a_file_list_or_index_for_other_content_is_refused() {
    let net = net("inputs-other");
    let a = TinyCheckpoint::new(6).unwrap();
    let b = TinyCheckpoint::new(7).unwrap();
    let (hash_a, _) = publish_checkpoint(
        &net.walrus,
        &CheckpointFiles::single(a.weights.clone(), a.config_json.clone()),
        1,
    )
    .unwrap();
    let (_, list_b) = publish_checkpoint(
        &net.walrus,
        &CheckpointFiles::single(b.weights.clone(), b.config_json.clone()),
        1,
    )
    .unwrap();
    let store = fresh(&net, "validator");
    let err = store.checkpoint(&hash_a, &list_b).unwrap_err().to_string();
    assert!(err.contains("not the anchored"), "{err}");

    let dataset = Dataset::new(synthetic_pages(2, 256, 65, 40)).unwrap();
    let (root, index) = publish_dataset(&net.walrus, &dataset, 1).unwrap();
    let err = store
        .dataset(&root, &index, 41, 65)
        .unwrap_err()
        .to_string();
    assert!(err.contains("the chain says 41"), "{err}");
    let err = store
        .dataset(&[9; 32], &index, 40, 65)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not the chain's dataset root"), "{err}");
}

fn three_shards(tiny: &TinyCheckpoint) -> CheckpointFiles {
    CheckpointFiles {
        weights: tiny.shards(3).unwrap(),
        config: tiny.config_json.clone(),
    }
}

#[test]
fn a_sharded_checkpoint_travels_and_loads_as_the_same_model() {
    use vram_enclave::model::Checkpoint;
    let net = net("inputs-sharded");
    let tiny = TinyCheckpoint::new(6).unwrap();
    let files = three_shards(&tiny);
    let (hash, list) = publish_checkpoint(&net.walrus, &files, 1).unwrap();
    assert_eq!(hash, files.identity());
    assert_ne!(hash, tiny.hash);
    let store = fresh(&net, "validator");
    let got = store.checkpoint(&hash, &list).unwrap();
    assert_eq!(got, files);
    // Cached in Hugging Face's layout, with an index the shards agree with.
    let cached = net
        .dir
        .join("validator/checkpoints")
        .join(hex::encode(hash));
    assert!(cached.join("model.safetensors.index.json").is_file());
    assert_eq!(CheckpointFiles::read_dir(&cached).unwrap(), files);
    // The same model as the single file, to the bit.
    let sharded = Checkpoint::load_files(&got.weights_bytes(), &got.config).unwrap();
    assert_eq!(sharded.hash(), tiny.load_shards(3).unwrap().hash());
    let single = Checkpoint::load(&tiny.weights, &tiny.config_json).unwrap();
    let page: Vec<u32> = (0..33).map(|i| i * 7 % 256).collect();
    assert_eq!(
        sharded.loss_sum(&[&page]).unwrap().0.to_bits(),
        single.loss_sum(&[&page]).unwrap().0.to_bits()
    );
    // A single-file consumer says why it cannot take it.
    let err = got.into_single().unwrap_err().to_string();
    assert!(err.contains("3 weights files"), "{err}");
}

#[test]
fn a_file_list_with_shards_out_of_order_is_refused() {
    let net = net("inputs-shard-order");
    let tiny = TinyCheckpoint::new(7).unwrap();
    let mut files = three_shards(&tiny);
    files.weights.swap(0, 2);
    // Publishing checks the names first: nothing is uploaded.
    let err = publish_checkpoint(&net.walrus, &files, 1)
        .unwrap_err()
        .to_string();
    assert!(err.contains("out of order"), "{err}");
    // A hostile list (written by hand) is refused before any fetch.
    let good = three_shards(&tiny);
    let (hash, list) = publish_checkpoint(&net.walrus, &good, 1).unwrap();
    let path = net.dir.join("blobs").join(list.to_string());
    let mut value: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    value["files"].as_array_mut().unwrap().swap(0, 1);
    std::fs::write(&path, serde_json::to_vec(&value).unwrap()).unwrap();
    let err = fresh(&net, "validator")
        .checkpoint(&hash, &list)
        .unwrap_err()
        .to_string();
    assert!(err.contains("out of order"), "{err}");
}
