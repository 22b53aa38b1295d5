//! Scratch folders for tests: unique per process, test and call, removed
//! when dropped (kept with `VRAM_KEEP_TEST_DIRS=1`, for a post-mortem).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A fresh, empty folder under the system's temporary folder.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// A new empty folder whose name carries `tag` (a test's name, say).
    pub fn new(tag: &str) -> std::io::Result<Self> {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!("vram-{tag}-{}-{n}", std::process::id()));
        match std::fs::remove_dir_all(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        std::fs::create_dir_all(&path)?;
        Ok(Self { path })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The folder, kept after the test: for what a test hands to code that
    /// outlives its scope, or leaves behind for inspection (an audit bundle).
    pub fn keep(self) -> PathBuf {
        let path = self.path.clone();
        std::mem::forget(self);
        path
    }
}

impl std::ops::Deref for TempDir {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("VRAM_KEEP_TEST_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_unique_empty_and_removed() {
        let a = TempDir::new("fs-test").unwrap();
        let b = TempDir::new("fs-test").unwrap();
        assert_ne!(a.path(), b.path());
        assert!(a.path().is_dir());
        std::fs::write(a.join("x"), b"1").unwrap();
        let kept = a.path().to_path_buf();
        drop(a);
        if std::env::var_os("VRAM_KEEP_TEST_DIRS").is_none() {
            assert!(!kept.exists());
        }
    }
}
