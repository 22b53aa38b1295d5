//! The Walrus client against misbehaving aggregators on loopback: 5xx,
//! hanging, truncating, lying about or exceeding the size, serving wrong
//! bytes; and a publisher's two answer forms.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use vram_host::walrus::{blob_id_from_store_response, BlobId, RetryPolicy, WalrusClient};

#[derive(Clone, Copy)]
enum Behaviour {
    Serve,
    Status(u16),
    Hang,
    Truncate,
    WrongBytes,
    ClaimHuge,
    StreamPastCap,
    /// Fail with 503 for the first N requests, then serve.
    FailFirst(usize),
    Publish,
}

const BLOB: &[u8] = b"a gradient blob, or something just like it";

/// A one-behaviour HTTP/1.1 server on 127.0.0.1; returns its base URL and
/// a request counter.
fn server(behaviour: Behaviour) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || handle(stream, behaviour, n));
        }
    });
    (url, hits)
}

fn handle(mut stream: TcpStream, behaviour: Behaviour, n: usize) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    let mut content_length = 0usize;
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            content_length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; content_length];
    let _ = reader.read_exact(&mut body);
    let ok = |s: &mut TcpStream, bytes: &[u8]| {
        let _ = write!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            bytes.len()
        );
        let _ = s.write_all(bytes);
    };
    match behaviour {
        Behaviour::Serve => ok(&mut stream, BLOB),
        Behaviour::FailFirst(k) if n >= k => ok(&mut stream, BLOB),
        Behaviour::Status(code) => {
            let _ = write!(
                stream,
                "HTTP/1.1 {code} Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
        Behaviour::FailFirst(_) => {
            let _ = write!(
                stream,
                "HTTP/1.1 503 Busy\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
        Behaviour::Hang => std::thread::sleep(Duration::from_secs(3)),
        Behaviour::Truncate => {
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                BLOB.len()
            );
            let _ = stream.write_all(&BLOB[..10]);
        }
        Behaviour::WrongBytes => ok(&mut stream, b"a gradient blob, but not the committed one!"),
        Behaviour::ClaimHuge => {
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\nConnection: close\r\n\r\n"
            );
            let _ = stream.write_all(BLOB);
        }
        Behaviour::StreamPastCap => {
            let _ = write!(stream, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
            for _ in 0..64 {
                if stream.write_all(&[7u8; 1024]).is_err() {
                    break;
                }
            }
        }
        Behaviour::Publish => {
            let id = BlobId(vram_attestation::sha256(&body)).to_string();
            let answer = if n == 0 {
                format!(
                    r#"{{"newlyCreated":{{"blobObject":{{"blobId":"{id}","size":{}}}}}}}"#,
                    body.len()
                )
            } else {
                format!(r#"{{"alreadyCertified":{{"blobId":"{id}","endEpoch":9}}}}"#)
            };
            ok(&mut stream, answer.as_bytes());
        }
    }
}

fn client(aggregators: &[String]) -> WalrusClient {
    let policy = RetryPolicy {
        rounds: 2,
        backoff: Duration::from_millis(20),
        request_timeout: Duration::from_millis(500),
    };
    WalrusClient::new(aggregators, &[], policy).unwrap()
}

fn fetch(aggregators: &[String]) -> vram_host::Result<Vec<u8>> {
    client(aggregators).fetch(&BlobId([5; 32]), &vram_attestation::sha256(BLOB), 4096)
}

#[test]
fn a_good_aggregator_serves_the_blob() {
    let (good, _) = server(Behaviour::Serve);
    assert_eq!(fetch(&[good]).unwrap(), BLOB);
}

#[test]
fn failover_past_every_kind_of_bad_aggregator() {
    for bad in [
        Behaviour::Status(500),
        Behaviour::Status(503),
        Behaviour::Status(404),
        Behaviour::Hang,
        Behaviour::Truncate,
        Behaviour::WrongBytes,
        Behaviour::ClaimHuge,
        Behaviour::StreamPastCap,
    ] {
        let (bad, bad_hits) = server(bad);
        let (good, _) = server(Behaviour::Serve);
        assert_eq!(fetch(&[bad, good]).unwrap(), BLOB);
        assert_eq!(
            bad_hits.load(Ordering::SeqCst),
            1,
            "the bad aggregator was tried first, once"
        );
    }
}

#[test]
fn nothing_unverified_is_ever_returned() {
    for bad in [
        Behaviour::WrongBytes,
        Behaviour::Truncate,
        Behaviour::ClaimHuge,
        Behaviour::StreamPastCap,
        Behaviour::Hang,
    ] {
        let (a, hits_a) = server(bad);
        let (b, hits_b) = server(bad);
        let err = fetch(&[a, b]).unwrap_err();
        assert!(matches!(err, vram_host::Error::Walrus { .. }), "{err}");
        // Two rounds over both aggregators.
        assert_eq!(
            hits_a.load(Ordering::SeqCst) + hits_b.load(Ordering::SeqCst),
            4
        );
    }
}

#[test]
fn a_recovering_aggregator_is_retried_after_backoff() {
    let (flaky, hits) = server(Behaviour::FailFirst(1));
    assert_eq!(fetch(&[flaky]).unwrap(), BLOB);
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

#[test]
fn publishers_return_the_blob_id_in_either_form() {
    let (publisher, _) = server(Behaviour::Publish);
    let policy = RetryPolicy {
        rounds: 1,
        backoff: Duration::from_millis(1),
        request_timeout: Duration::from_secs(5),
    };
    let c = WalrusClient::new(&["http://127.0.0.1:9".to_string()], &[publisher], policy).unwrap();
    assert_eq!(
        c.store(BLOB, 3).unwrap(),
        BlobId(vram_attestation::sha256(BLOB))
    );
    assert_eq!(
        c.store(BLOB, 3).unwrap(),
        BlobId(vram_attestation::sha256(BLOB)),
        "alreadyCertified"
    );
    let (broken, _) = server(Behaviour::Status(500));
    let c = WalrusClient::new(
        &["http://127.0.0.1:9".to_string()],
        &[broken],
        RetryPolicy {
            rounds: 1,
            ..RetryPolicy::default()
        },
    )
    .unwrap();
    assert!(c.store(BLOB, 1).is_err());
    assert!(blob_id_from_store_response("{}").is_err());
}

#[test]
fn blob_ids_are_32_bytes_of_url_safe_base64() {
    let id = BlobId([0xfb; 32]);
    let text = id.to_string();
    assert_eq!(text.len(), 43);
    assert!(!text.contains('+') && !text.contains('/'));
    assert_eq!(text.parse::<BlobId>().unwrap(), id);
    assert!("AAAA".parse::<BlobId>().is_err());
    assert!("not base64!".parse::<BlobId>().is_err());
    assert!(WalrusClient::new(&[], &[], RetryPolicy::default()).is_err());
}
