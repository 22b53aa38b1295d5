//! The Nitro Secure Module interface the enclave uses: attestation
//! documents, randomness and a description. Implemented by the hardware NSM
//! ([`HardwareNsm`], feature `nitro`) and by [`crate::SimulatedNsm`] for test
//! mode; the code above this trait is the same in both.

use crate::error::{Error, Result};

/// Largest public key the NSM binds (AWS NSM API limit).
pub const MAX_NSM_PUBLIC_KEY: usize = 1024;
/// Largest user data the NSM binds.
pub const MAX_NSM_USER_DATA: usize = 512;
/// Largest nonce the NSM binds.
pub const MAX_NSM_NONCE: usize = 512;

/// What to bind into an attestation document.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttestRequest<'a> {
    /// The enclave's public key.
    pub public_key: Option<&'a [u8]>,
    /// Application data.
    pub user_data: Option<&'a [u8]>,
    /// The requester's freshness nonce.
    pub nonce: Option<&'a [u8]>,
}

impl AttestRequest<'_> {
    /// Refuses fields over the NSM's limits before any request is made.
    pub fn check_limits(&self) -> Result<()> {
        for (field, value, max) in [
            ("public_key", self.public_key, MAX_NSM_PUBLIC_KEY),
            ("user_data", self.user_data, MAX_NSM_USER_DATA),
            ("nonce", self.nonce, MAX_NSM_NONCE),
        ] {
            if let Some(v) = value {
                if v.len() > max {
                    return Err(Error::NsmInputTooLarge {
                        field,
                        len: v.len(),
                        max,
                    });
                }
            }
        }
        Ok(())
    }
}

/// What an NSM says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NsmDescription {
    /// Major, minor and patch version of the module.
    pub version: (u16, u16, u16),
    /// The module id that appears in documents.
    pub module_id: String,
    /// Number of PCRs.
    pub max_pcrs: u16,
    /// PCRs that can no longer be extended.
    pub locked_pcrs: Vec<u16>,
    /// PCR digest (`SHA384`).
    pub digest: String,
    /// True for the simulator: nothing it signs passes a production check.
    pub simulated: bool,
}

/// A Nitro Secure Module.
pub trait Nsm: Send + Sync {
    /// A signed attestation document binding `request`.
    fn attest(&self, request: &AttestRequest<'_>) -> Result<Vec<u8>>;
    /// Fills `out` with random bytes from the module.
    fn fill_random(&self, out: &mut [u8]) -> Result<()>;
    /// The module's description.
    fn describe(&self) -> Result<NsmDescription>;
}

#[cfg(feature = "nitro")]
pub use hardware::HardwareNsm;

#[cfg(feature = "nitro")]
mod hardware {
    use aws_nitro_enclaves_nsm_api::api::{Digest, Request, Response};
    use aws_nitro_enclaves_nsm_api::driver::{nsm_exit, nsm_init, nsm_process_request};
    use serde_bytes::ByteBuf;

    use super::{AttestRequest, Nsm, NsmDescription};
    use crate::error::{Error, Result};

    /// The NSM device of a running Nitro enclave (`/dev/nsm`). The ioctl and
    /// its unsafe code live in `aws-nitro-enclaves-nsm-api`.
    #[derive(Debug)]
    pub struct HardwareNsm {
        fd: i32,
    }

    impl HardwareNsm {
        /// Opens `/dev/nsm`; fails outside a Nitro enclave.
        pub fn open() -> Result<Self> {
            let fd = nsm_init();
            if fd < 0 {
                return Err(Error::Nsm {
                    request: "open",
                    reason: "cannot open /dev/nsm (not inside a Nitro enclave?)".into(),
                });
            }
            Ok(Self { fd })
        }

        fn call(&self, name: &'static str, request: Request) -> Result<Response> {
            match nsm_process_request(self.fd, request) {
                Response::Error(code) => Err(Error::Nsm {
                    request: name,
                    reason: format!("{code:?}"),
                }),
                response => Ok(response),
            }
        }
    }

    impl Drop for HardwareNsm {
        fn drop(&mut self) {
            nsm_exit(self.fd);
        }
    }

    fn unexpected(request: &'static str, response: &Response) -> Error {
        Error::Nsm {
            request,
            reason: format!("unexpected response {response:?}"),
        }
    }

    impl Nsm for HardwareNsm {
        fn attest(&self, request: &AttestRequest<'_>) -> Result<Vec<u8>> {
            request.check_limits()?;
            let buf = |v: Option<&[u8]>| v.map(|b| ByteBuf::from(b.to_vec()));
            let response = self.call(
                "Attestation",
                Request::Attestation {
                    user_data: buf(request.user_data),
                    nonce: buf(request.nonce),
                    public_key: buf(request.public_key),
                },
            )?;
            match response {
                Response::Attestation { document } => Ok(document),
                other => Err(unexpected("Attestation", &other)),
            }
        }

        fn fill_random(&self, out: &mut [u8]) -> Result<()> {
            let mut filled = 0;
            // The NSM returns a bounded amount per call; an empty answer
            // would loop forever, so it counts as a failure.
            while filled < out.len() {
                match self.call("GetRandom", Request::GetRandom)? {
                    Response::GetRandom { random } if !random.is_empty() => {
                        let n = random.len().min(out.len() - filled);
                        out[filled..filled + n].copy_from_slice(&random[..n]);
                        filled += n;
                    }
                    other => return Err(unexpected("GetRandom", &other)),
                }
            }
            Ok(())
        }

        fn describe(&self) -> Result<NsmDescription> {
            match self.call("DescribeNSM", Request::DescribeNSM)? {
                Response::DescribeNSM {
                    version_major,
                    version_minor,
                    version_patch,
                    module_id,
                    max_pcrs,
                    locked_pcrs,
                    digest,
                } => Ok(NsmDescription {
                    version: (version_major, version_minor, version_patch),
                    module_id,
                    max_pcrs,
                    locked_pcrs: locked_pcrs.into_iter().collect(),
                    digest: match digest {
                        Digest::SHA256 => "SHA256",
                        Digest::SHA384 => "SHA384",
                        Digest::SHA512 => "SHA512",
                    }
                    .into(),
                    simulated: false,
                }),
                other => Err(unexpected("DescribeNSM", &other)),
            }
        }
    }
}
