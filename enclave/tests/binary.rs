//! The `vram-enclave` binary itself, in test mode: it serves over TCP and
//! over a Unix socket with the simulated NSM, its attestation verifies only
//! under the test root it keeps in its state directory, and bad flags exit 2.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vram_attestation::{verify, AttestationDocument, Policy, TrustRoot};
use vram_enclave::protocol::{read_frame, write_frame, Request, Response, TimedRead};
use vram_test_support::TempDir;

struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(listen: &str, state: &std::path::Path) -> Guard {
    Guard(
        Command::new(env!("CARGO_BIN_EXE_vram-enclave"))
            .args([
                "serve",
                "--listen",
                listen,
                "--nsm",
                &format!("simulated:{}", state.display()),
                "--threads",
                "1",
            ])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

fn exchange<S: TimedRead + Write>(s: &mut S, r: &Request) -> Response {
    write_frame(s, &r.encode()).unwrap();
    Response::decode(
        &read_frame(
            s,
            1 << 24,
            Some(Duration::from_secs(30)),
            Duration::from_secs(30),
        )
        .unwrap(),
    )
    .unwrap()
}

fn retry<T>(mut f: impl FnMut() -> std::io::Result<T>) -> T {
    let start = Instant::now();
    loop {
        match f() {
            Ok(v) => return v,
            Err(e) if start.elapsed() > Duration::from_secs(20) => {
                panic!("enclave did not come up: {e}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn check_describe<S: TimedRead + Write + Read>(s: &mut S, state: &std::path::Path) {
    assert!(matches!(
        exchange(s, &Request::Health),
        Response::Health {
            protocol_version: 4,
            ..
        }
    ));
    let Response::Describe {
        public_key,
        attestation,
        simulated,
        ..
    } = exchange(s, &Request::Describe { nonce: vec![9; 16] })
    else {
        panic!()
    };
    assert!(simulated);
    let at = AttestationDocument::parse(&attestation)
        .unwrap()
        .timestamp_ms;
    let root = TrustRoot::from_pem(&std::fs::read_to_string(state.join("test-root.pem")).unwrap())
        .unwrap();
    let att = verify(&attestation, &root, at).unwrap();
    Policy::new()
        .expect_public_key(public_key.0.to_vec())
        .expect_nonce(vec![9; 16])
        .check(&att, at)
        .unwrap();
    assert!(verify(&attestation, &TrustRoot::aws_nitro().unwrap(), at).is_err());
}

fn state(tag: &str) -> TempDir {
    TempDir::new(&format!("enclave-bin-{tag}")).unwrap()
}

#[test]
fn serves_over_tcp() {
    let dir = state("tcp");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _enclave = start(&format!("tcp:127.0.0.1:{port}"), &dir);
    let mut s = retry(|| std::net::TcpStream::connect(("127.0.0.1", port)));
    retry(|| {
        if dir.join("test-root.pem").exists() {
            Ok(())
        } else {
            Err(std::io::Error::other("no root yet"))
        }
    });
    check_describe(&mut s, &dir);
}

#[test]
fn serves_over_a_unix_socket() {
    let dir = state("unix");
    let path = dir.join("enclave.sock");
    let _enclave = start(&format!("unix:{}", path.display()), &dir);
    let mut s = retry(|| std::os::unix::net::UnixStream::connect(&path));
    check_describe(&mut s, &dir);
}

#[test]
fn bad_flags_exit_2() {
    for args in [
        vec!["serve"],
        vec![
            "serve",
            "--listen",
            "tcp:10.0.0.1:5000",
            "--nsm",
            "simulated",
        ],
        vec!["serve", "--listen", "carrier-pigeon", "--nsm", "simulated"],
        vec!["serve", "--listen", "tcp:127.0.0.1:0", "--nsm", "quantum"],
        vec!["frobnicate"],
    ] {
        let status = Command::new(env!("CARGO_BIN_EXE_vram-enclave"))
            .args(&args)
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(2), "{args:?}");
    }
}
