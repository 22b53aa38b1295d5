//! Keeps the enclave running: starts it, notices when it died, restarts it.
//! A restarted enclave has a new key; the window loop re-attests it and
//! registers the key again (visible on chain to everyone).
//!
//! Test mode runs `vram-enclave` as a child process with the simulated NSM on
//! a Unix socket. Nitro mode runs `nitro-cli run-enclave` and talks vsock;
//! it is built by the same code but cannot run on machines without Nitro.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::enclave_client::{EnclaveClient, Endpoint};
use crate::error::{Error, Result};

/// How the enclave is started.
#[derive(Debug, Clone)]
pub enum Launcher {
    /// `vram-enclave serve --listen unix:SOCKET --nsm simulated:STATE_DIR`.
    Process {
        /// The `vram-enclave` binary.
        exe: PathBuf,
        /// The Unix socket it listens on.
        socket: PathBuf,
        /// Where the simulated NSM keeps its test root.
        state_dir: PathBuf,
        /// Where its stderr goes.
        log: PathBuf,
    },
    /// `nitro-cli run-enclave --eif-path EIF --cpu-count N --memory MIB --enclave-cid CID`.
    Nitro {
        /// The enclave image.
        eif: PathBuf,
        /// vCPUs.
        cpu_count: u32,
        /// Memory, MiB.
        memory_mib: u64,
        /// The enclave's vsock CID.
        cid: u32,
        /// The vsock port the service listens on.
        port: u32,
    },
    /// Someone else runs it; the host only connects.
    External(Endpoint),
}

/// The running enclave and its restart count.
pub struct Supervisor {
    launcher: Launcher,
    child: Option<Child>,
    started: bool,
    restarts: u64,
    call_timeout: Duration,
}

fn enclave_err(reason: impl Into<String>) -> Error {
    Error::Enclave {
        reason: reason.into(),
    }
}

impl Supervisor {
    /// A supervisor that has not started anything yet.
    pub fn new(launcher: Launcher, call_timeout: Duration) -> Self {
        Self {
            launcher,
            child: None,
            started: false,
            restarts: 0,
            call_timeout,
        }
    }

    /// Where the enclave listens.
    pub fn endpoint(&self) -> Endpoint {
        match &self.launcher {
            Launcher::Process { socket, .. } => Endpoint::Unix(socket.clone()),
            Launcher::Nitro { cid, port, .. } => Endpoint::Vsock {
                cid: *cid,
                port: *port,
            },
            Launcher::External(endpoint) => endpoint.clone(),
        }
    }

    /// Restarts so far (not counting the first start).
    pub fn restarts(&self) -> u64 {
        self.restarts
    }

    /// The simulated NSM's test root, in test mode.
    pub fn test_root_path(&self) -> Option<PathBuf> {
        match &self.launcher {
            Launcher::Process { state_dir, .. } => Some(state_dir.join("test-root.pem")),
            _ => None,
        }
    }

    /// The child's process id, in test mode (tests kill it).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Starts the enclave if it is not running; true if it (re)started.
    pub fn ensure_running(&mut self) -> Result<bool> {
        if self.alive()? {
            return Ok(false);
        }
        if self.started {
            self.restarts += 1;
            tracing::warn!(restarts = self.restarts, "enclave is down: restarting it");
        }
        self.start()?;
        self.started = true;
        Ok(true)
    }

    fn alive(&mut self) -> Result<bool> {
        match &self.launcher {
            Launcher::Process { .. } => match self.child.as_mut() {
                None => Ok(false),
                Some(child) => match child.try_wait() {
                    Ok(None) => Ok(true),
                    Ok(Some(status)) => {
                        tracing::warn!(%status, "enclave process exited");
                        self.child = None;
                        Ok(false)
                    }
                    Err(e) => Err(enclave_err(format!("waiting on the enclave: {e}"))),
                },
            },
            Launcher::Nitro { .. } | Launcher::External(_) => {
                Ok(self.started && self.connect(Duration::from_secs(2)).is_ok())
            }
        }
    }

    fn start(&mut self) -> Result<()> {
        match self.launcher.clone() {
            Launcher::Process {
                exe,
                socket,
                state_dir,
                log,
            } => {
                let _ = std::fs::remove_file(&socket);
                let log_file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .map_err(|e| enclave_err(format!("{}: {e}", log.display())))?;
                let child = Command::new(&exe)
                    .arg("serve")
                    .arg("--listen")
                    .arg(format!("unix:{}", socket.display()))
                    .arg("--nsm")
                    .arg(format!("simulated:{}", state_dir.display()))
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(log_file)
                    .spawn()
                    .map_err(|e| enclave_err(format!("starting {}: {e}", exe.display())))?;
                tracing::info!(pid = child.id(), socket = %socket.display(), "enclave started (simulated NSM)");
                self.child = Some(child);
            }
            Launcher::Nitro {
                eif,
                cpu_count,
                memory_mib,
                cid,
                ..
            } => {
                let _ = Command::new("nitro-cli")
                    .args(["terminate-enclave", "--all"])
                    .status();
                let status = Command::new("nitro-cli")
                    .arg("run-enclave")
                    .arg("--eif-path")
                    .arg(&eif)
                    .args(["--cpu-count", &cpu_count.to_string()])
                    .args(["--memory", &memory_mib.to_string()])
                    .args(["--enclave-cid", &cid.to_string()])
                    .status()
                    .map_err(|e| enclave_err(format!("nitro-cli run-enclave: {e}")))?;
                if !status.success() {
                    return Err(enclave_err(format!(
                        "nitro-cli run-enclave failed ({status}); see docs/operator-guide.md (E26 memory, E36 CPU pool)"
                    )));
                }
            }
            Launcher::External(_) => {}
        }
        self.wait_ready(Duration::from_secs(60))
    }

    fn wait_ready(&mut self, limit: Duration) -> Result<()> {
        let begin = Instant::now();
        loop {
            match self.connect(Duration::from_secs(5)) {
                Ok(_) => return Ok(()),
                Err(e) if begin.elapsed() >= limit => {
                    return Err(enclave_err(format!("not ready after {limit:?}: {e}")))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    // The reason is in the enclave's own log: show its end.
                    let why = match &self.launcher {
                        Launcher::Process { log, .. } => log_tail(log, 5)
                            .map(|tail| format!("; {} ends with:\n{tail}", log.display()))
                            .unwrap_or_default(),
                        _ => String::new(),
                    };
                    return Err(enclave_err(format!(
                        "the enclave exited at start ({status}){why}"
                    )));
                }
            }
        }
    }

    fn connect(&self, timeout: Duration) -> Result<EnclaveClient> {
        EnclaveClient::connect(&self.endpoint(), timeout)
    }

    /// A connection to the running enclave.
    pub fn client(&mut self) -> Result<EnclaveClient> {
        self.ensure_running()?;
        self.connect(self.call_timeout)
    }

    /// Stops the enclave (test mode: kills the child).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Launcher::Nitro { .. } = self.launcher {
            let _ = Command::new("nitro-cli")
                .args(["terminate-enclave", "--all"])
                .status();
        }
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The `vram-enclave` binary next to the running executable (both are built
/// into the same target directory and installed side by side).
pub fn sibling_binary(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe().map_err(|e| enclave_err(e.to_string()))?;
    let mut dirs: Vec<&Path> = Vec::new();
    if let Some(dir) = exe.parent() {
        dirs.push(dir);
        // Test binaries live one level down, in deps/.
        if let Some(up) = dir.parent() {
            dirs.push(up);
        }
    }
    dirs.iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            enclave_err(format!(
                "{name} not found next to {}: build it with `cargo build --release -p vram-enclave`",
                exe.display()
            ))
        })
}

/// The last `lines` lines of a log file (at most 64 KiB read), if any.
fn log_tail(path: &std::path::Path, lines: usize) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)))
        .ok()?;
    let mut text = String::new();
    f.take(64 * 1024).read_to_string(&mut text).ok()?;
    let tail: Vec<&str> = text.lines().rev().take(lines).collect();
    (!tail.is_empty()).then(|| {
        tail.into_iter()
            .rev()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    })
}
