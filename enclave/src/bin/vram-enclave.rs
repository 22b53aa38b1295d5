//! `vram-enclave`: the measured service. Parses its few flags by hand (no
//! argument-parsing dependency in the enclave image) and serves.
//!
//! ```text
//! vram-enclave serve --listen vsock:PORT | tcp:127.0.0.1:PORT | unix:PATH
//!                    --nsm nitro | simulated[:STATE_DIR]
//!                    [--max-frame-bytes N] [--threads N]
//! ```
//! Exit codes: 0 never (it serves until killed), 1 the listener failed,
//! 2 usage error, 3 the NSM failed at boot.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use vram_attestation::{Nsm, SimulatedNsm};
use vram_enclave::service::{serve, Enclave, Listener, ServiceConfig};

const USAGE: &str = "usage: vram-enclave serve --listen vsock:PORT|tcp:127.0.0.1:PORT|unix:PATH \
--nsm nitro|simulated[:STATE_DIR] [--max-frame-bytes N] [--threads N]";

struct Args {
    listen: String,
    nsm: String,
    max_frame: Option<u32>,
    threads: Option<usize>,
}

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    match argv.next().as_deref() {
        Some("serve") => {}
        Some("--version") => return Err(format!("vram-enclave {}", env!("CARGO_PKG_VERSION"))),
        _ => return Err(USAGE.into()),
    }
    let (mut listen, mut nsm, mut max_frame, mut threads) = (None, None, None, None);
    while let Some(flag) = argv.next() {
        let mut value = || argv.next().ok_or(format!("{flag} needs a value\n{USAGE}"));
        match flag.as_str() {
            "--listen" => listen = Some(value()?),
            "--nsm" => nsm = Some(value()?),
            "--max-frame-bytes" => {
                max_frame = Some(
                    value()?
                        .parse()
                        .map_err(|_| "--max-frame-bytes takes a number".to_string())?,
                )
            }
            "--threads" => {
                threads = Some(
                    value()?
                        .parse()
                        .map_err(|_| "--threads takes a number".to_string())?,
                )
            }
            "--help" | "-h" => return Err(USAGE.into()),
            other => return Err(format!("unknown flag {other}\n{USAGE}")),
        }
    }
    let nsm: String = nsm.ok_or(format!("--nsm is required\n{USAGE}"))?;
    if !(nsm == "nitro" || nsm == "simulated" || nsm.starts_with("simulated:")) {
        return Err(format!("unknown NSM {nsm}\n{USAGE}"));
    }
    Ok(Args {
        listen: listen.ok_or(format!("--listen is required\n{USAGE}"))?,
        nsm,
        max_frame,
        threads,
    })
}

fn listener(spec: &str) -> Result<Listener, String> {
    let bind = |e: std::io::Error| format!("cannot listen on {spec}: {e}");
    if let Some(addr) = spec.strip_prefix("tcp:") {
        let addr: std::net::SocketAddr = addr
            .parse()
            .map_err(|_| format!("bad TCP address {addr}"))?;
        if !addr.ip().is_loopback() {
            return Err("test mode listens on loopback only".into());
        }
        return std::net::TcpListener::bind(addr)
            .map(Listener::Tcp)
            .map_err(bind);
    }
    if let Some(path) = spec.strip_prefix("unix:") {
        let _ = std::fs::remove_file(path);
        return std::os::unix::net::UnixListener::bind(path)
            .map(Listener::Unix)
            .map_err(bind);
    }
    if let Some(port) = spec.strip_prefix("vsock:") {
        let port: u32 = port.parse().map_err(|_| format!("bad vsock port {port}"))?;
        return vsock::VsockListener::bind_with_cid_port(vsock::VMADDR_CID_ANY, port)
            .map(Listener::Vsock)
            .map_err(bind);
    }
    Err(format!("unknown listen address {spec}\n{USAGE}"))
}

fn nsm(spec: &str) -> Result<Box<dyn Nsm>, String> {
    if spec == "nitro" {
        #[cfg(feature = "nitro")]
        return vram_attestation::HardwareNsm::open()
            .map(|n| Box::new(n) as Box<dyn Nsm>)
            .map_err(|e| e.to_string());
        #[cfg(not(feature = "nitro"))]
        return Err("this build has no hardware NSM support (build with --features nitro)".into());
    }
    if spec == "simulated" {
        return SimulatedNsm::ephemeral()
            .map(|n| Box::new(n) as Box<dyn Nsm>)
            .map_err(|e| e.to_string());
    }
    if let Some(dir) = spec.strip_prefix("simulated:") {
        return SimulatedNsm::with_state_dir(&PathBuf::from(dir))
            .map(|n| Box::new(n) as Box<dyn Nsm>)
            .map_err(|e| e.to_string());
    }
    Err(format!("unknown NSM {spec}\n{USAGE}"))
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    if let Some(n) = args.threads {
        std::env::set_var("RAYON_NUM_THREADS", n.max(1).to_string());
    }
    let listener = match listener(&args.listen) {
        Ok(l) => l,
        Err(message) => {
            eprintln!("vram-enclave: {message}");
            return ExitCode::from(2);
        }
    };
    let nsm = match nsm(&args.nsm) {
        Ok(n) => n,
        Err(message) => {
            eprintln!("vram-enclave: NSM: {message}");
            return ExitCode::from(3);
        }
    };
    let mut config = ServiceConfig::default();
    if let Some(max) = args.max_frame {
        config.max_frame = max;
    }
    let enclave = match Enclave::new(nsm, config) {
        Ok(e) => Arc::new(e),
        Err(e) => {
            eprintln!("vram-enclave: boot: {e}");
            return ExitCode::from(3);
        }
    };
    eprintln!(
        "vram-enclave: serving on {} with public key {}",
        args.listen,
        hex(&enclave.public_key())
    );
    match serve(enclave, listener) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vram-enclave: listener failed: {e}");
            ExitCode::from(1)
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
