//! Where attachment bytes live: a folder on local disk. Each file is written
//! to a temporary name, fsynced, renamed into place and its folder fsynced, so
//! a file that a message points to is whole on disk before the message is
//! committed.

use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

#[derive(Debug, Clone)]
pub struct LocalStorage {
    root: PathBuf,
}

/// A file being written: bytes go in, then it is either kept or discarded.
pub struct PendingFile {
    temp: PathBuf,
    file: tokio::fs::File,
}

impl LocalStorage {
    pub fn new(root: impl Into<PathBuf>) -> std::io::Result<LocalStorage> {
        let root = root.into();
        std::fs::create_dir_all(root.join("tmp"))?;
        Ok(LocalStorage { root })
    }

    /// Where the file of `key` is.
    pub fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    pub async fn begin(&self) -> std::io::Result<PendingFile> {
        let temp = self.root.join("tmp").join(super::random_token(16));
        let file = tokio::fs::File::create(&temp).await?;
        Ok(PendingFile { temp, file })
    }

    /// Makes the pending file durable under a new generated key (never the
    /// user's name), and returns the key.
    pub async fn keep(&self, mut pending: PendingFile) -> std::io::Result<String> {
        pending.file.flush().await?;
        pending.file.sync_all().await?;
        let key = format!("{}/{}", &super::random_token(1), super::random_token(16));
        let target = self.path(&key);
        let folder = target.parent().expect("a key has a folder").to_path_buf();
        tokio::fs::create_dir_all(&folder).await?;
        tokio::fs::rename(&pending.temp, &target).await?;
        sync_dir(&folder).await?;
        Ok(key)
    }

    /// Stores a small derived file (a thumbnail) under `key` + `suffix`, durably.
    pub async fn put_beside(
        &self,
        key: &str,
        suffix: &str,
        bytes: &[u8],
    ) -> std::io::Result<String> {
        let mut pending = self.begin().await?;
        pending.write(bytes).await?;
        pending.file.flush().await?;
        pending.file.sync_all().await?;
        let derived = format!("{key}{suffix}");
        let target = self.path(&derived);
        tokio::fs::rename(&pending.temp, &target).await?;
        sync_dir(target.parent().expect("a key has a folder")).await?;
        Ok(derived)
    }

    /// Deletes a kept file (its record could not be committed).
    pub async fn remove(&self, key: &str) {
        let _ = tokio::fs::remove_file(self.path(key)).await;
    }
}

impl PendingFile {
    pub async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.file.write_all(bytes).await
    }

    /// Drops what was written (a refused upload leaves nothing behind).
    pub async fn discard(self) {
        drop(self.file);
        let _ = tokio::fs::remove_file(&self.temp).await;
    }
}

async fn sync_dir(dir: &Path) -> std::io::Result<()> {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || std::fs::File::open(&dir)?.sync_all())
        .await
        .map_err(std::io::Error::other)?
}
