//! Where attachment bytes live: a local folder, or an S3-compatible object
//! store. Either way an upload is first written to a local scratch file
//! (so it can be checked, counted and previewed while it streams), then made
//! durable under a generated key, and only then does a record point to it.
//!
//! - Folder: the scratch file is fsynced, renamed into place, and its folder
//!   and the root fsynced (the folder may be new).
//! - Object store: the scratch file is streamed to a multipart upload, which
//!   the store makes visible only once complete.

use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// Chunk read from a scratch file while sending it to an object store.
const UPLOAD_CHUNK: usize = 1024 * 1024;

/// An S3-compatible object store and where in it attachments go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectStoreSettings {
    pub bucket: String,
    pub prefix: String,
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

/// Where attachments are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageLocation {
    Folder(PathBuf),
    ObjectStore(ObjectStoreSettings),
}

impl StorageLocation {
    /// `s3://bucket/prefix` (credentials and endpoint from the standard
    /// `AWS_*` variables) or a folder.
    pub fn parse(
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<StorageLocation, String> {
        let Some(rest) = text.strip_prefix("s3://") else {
            if text.contains("://") {
                return Err(format!("{text:?}: expected a folder or s3://bucket/prefix"));
            }
            return Ok(StorageLocation::Folder(PathBuf::from(text)));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err("s3:// needs a bucket name".into());
        }
        Ok(StorageLocation::ObjectStore(ObjectStoreSettings {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
            endpoint: env("AWS_ENDPOINT_URL").or_else(|| env("AWS_ENDPOINT")),
            region: env("AWS_REGION")
                .or_else(|| env("AWS_DEFAULT_REGION"))
                .unwrap_or_else(|| "us-east-1".into()),
            access_key_id: env("AWS_ACCESS_KEY_ID"),
            secret_access_key: env("AWS_SECRET_ACCESS_KEY"),
        }))
    }
}

#[derive(Clone)]
pub struct FileStore {
    /// Where uploads are written while they stream.
    scratch: PathBuf,
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Folder(PathBuf),
    Object {
        store: Arc<dyn ObjectStore>,
        prefix: String,
    },
}

/// A file being written: bytes go in, then it is kept. Dropped without
/// being kept (a refused upload, a failed write, a handler cancelled by a
/// closed connection), it removes its scratch copy.
pub struct PendingFile {
    temp: PathBuf,
    file: tokio::fs::File,
    /// The bytes have a final name now: nothing is left to clean up.
    kept: bool,
}

impl FileStore {
    pub fn open(location: &StorageLocation) -> Result<FileStore, String> {
        match location {
            StorageLocation::Folder(root) => {
                let scratch = root.join("tmp");
                std::fs::create_dir_all(&scratch)
                    .map_err(|e| format!("{}: {e}", root.display()))?;
                Ok(FileStore {
                    scratch,
                    backend: Backend::Folder(root.clone()),
                })
            }
            StorageLocation::ObjectStore(settings) => {
                let mut builder = AmazonS3Builder::new()
                    .with_bucket_name(&settings.bucket)
                    .with_region(&settings.region);
                if let Some(endpoint) = &settings.endpoint {
                    builder = builder
                        .with_endpoint(endpoint)
                        .with_allow_http(endpoint.starts_with("http://"));
                }
                if let (Some(id), Some(secret)) =
                    (&settings.access_key_id, &settings.secret_access_key)
                {
                    builder = builder
                        .with_access_key_id(id)
                        .with_secret_access_key(secret);
                }
                let store = builder
                    .build()
                    .map_err(|e| format!("s3://{}: {e}", settings.bucket))?;
                let scratch = std::env::temp_dir().join("soporte-uploads");
                std::fs::create_dir_all(&scratch)
                    .map_err(|e| format!("{}: {e}", scratch.display()))?;
                Ok(FileStore {
                    scratch,
                    backend: Backend::Object {
                        store: Arc::new(store),
                        prefix: settings.prefix.clone(),
                    },
                })
            }
        }
    }

    /// Bytes an unprivileged process may still write on the folder's disk;
    /// `None` for an object store (it does not fill up) or when unknown.
    pub fn free_space(&self) -> Option<u64> {
        match &self.backend {
            Backend::Folder(root) => free_space(root),
            Backend::Object { .. } => None,
        }
    }

    /// Deletes scratch files an earlier process left behind (an upload cut
    /// off by a crash). Called once at start, before any upload.
    pub fn clear_scratch(&self) {
        let Ok(entries) = std::fs::read_dir(&self.scratch) else {
            return;
        };
        for entry in entries.flatten() {
            if entry.path().is_file() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    pub async fn begin(&self) -> std::io::Result<PendingFile> {
        let temp = self.scratch.join(super::random_token(16));
        let file = tokio::fs::File::create(&temp).await?;
        Ok(PendingFile {
            temp,
            file,
            kept: false,
        })
    }

    /// Makes the pending file durable under a new generated key (never the
    /// user's name), and returns the key.
    pub async fn keep(&self, pending: PendingFile) -> std::io::Result<String> {
        let key = format!("{}/{}", super::random_token(1), super::random_token(16));
        self.keep_as(pending, &key).await?;
        Ok(key)
    }

    /// Stores a small derived file (a thumbnail) under `key` + `suffix`.
    pub async fn put_beside(
        &self,
        key: &str,
        suffix: &str,
        bytes: Vec<u8>,
    ) -> std::io::Result<String> {
        let derived = format!("{key}{suffix}");
        match &self.backend {
            Backend::Folder(_) => {
                let mut pending = self.begin().await?;
                pending.write(&bytes).await?;
                self.keep_as(pending, &derived).await?;
            }
            Backend::Object { store, prefix } => {
                store
                    .put(&object_path(prefix, &derived), PutPayload::from(bytes))
                    .await
                    .map_err(std::io::Error::other)?;
            }
        }
        Ok(derived)
    }

    /// Gives the pending file its final name. On any failure nothing is
    /// left: neither the scratch copy (dropped with `pending`) nor a file
    /// under `key` whose name may not be durable.
    async fn keep_as(&self, mut pending: PendingFile, key: &str) -> std::io::Result<()> {
        pending.file.flush().await?;
        match &self.backend {
            Backend::Folder(root) => {
                pending.file.sync_all().await?;
                let target = root.join(key);
                let folder = target.parent().expect("a key has a folder").to_path_buf();
                tokio::fs::create_dir_all(&folder).await?;
                tokio::fs::rename(&pending.temp, &target).await?;
                pending.kept = true;
                // The key folder may be new (made here or by an upload
                // beside this one a moment ago): its own name in the root
                // is durable only once the root is synced too. Without it a
                // power cut can take the folder, and the confirmed file in
                // it (found by durability::a_power_cut_after_sigkill_…).
                let synced = match sync_dir(&folder).await {
                    Ok(()) => sync_dir(root).await,
                    Err(error) => Err(error),
                };
                if synced.is_err() {
                    let _ = tokio::fs::remove_file(&target).await;
                }
                synced
            }
            // The scratch copy goes with `pending` either way.
            Backend::Object { store, prefix } => {
                upload(store.as_ref(), &object_path(prefix, key), &pending.temp).await
            }
        }
    }

    /// Deletes a kept file (its record could not be committed).
    pub async fn remove(&self, key: &str) {
        match &self.backend {
            Backend::Folder(root) => {
                let _ = tokio::fs::remove_file(root.join(key)).await;
            }
            Backend::Object { store, prefix } => {
                let _ = store.delete(&object_path(prefix, key)).await;
            }
        }
    }

    /// Deletes a kept file for good (an erasure): Ok once it is gone,
    /// whether or not it was there.
    pub async fn delete(&self, key: &str) -> std::io::Result<()> {
        match &self.backend {
            Backend::Folder(root) => match tokio::fs::remove_file(root.join(key)).await {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
                _ => Ok(()),
            },
            Backend::Object { store, prefix } => {
                match store.delete(&object_path(prefix, key)).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                    Err(error) => Err(std::io::Error::other(error.to_string())),
                }
            }
        }
    }

    /// The size of a kept file.
    pub async fn size(&self, key: &str) -> std::io::Result<u64> {
        match &self.backend {
            Backend::Folder(root) => Ok(tokio::fs::metadata(root.join(key)).await?.len()),
            Backend::Object { store, prefix } => Ok(store
                .head(&object_path(prefix, key))
                .await
                .map_err(std::io::Error::other)?
                .size),
        }
    }

    /// `length` bytes of a kept file from `start`, as a stream.
    pub async fn read(
        &self,
        key: &str,
        start: u64,
        length: u64,
    ) -> std::io::Result<BoxStream<'static, std::io::Result<Bytes>>> {
        match &self.backend {
            Backend::Folder(root) => {
                let mut file = tokio::fs::File::open(root.join(key)).await?;
                file.seek(std::io::SeekFrom::Start(start)).await?;
                Ok(tokio_util::io::ReaderStream::new(file.take(length)).boxed())
            }
            Backend::Object { store, prefix } => {
                if length == 0 {
                    return Ok(futures_util::stream::empty().boxed());
                }
                let options = GetOptions {
                    range: Some(GetRange::Bounded(start..start + length)),
                    ..Default::default()
                };
                let result = store
                    .get_opts(&object_path(prefix, key), options)
                    .await
                    .map_err(std::io::Error::other)?;
                Ok(result.into_stream().map_err(std::io::Error::other).boxed())
            }
        }
    }
}

/// `statvfs(3)` through libc: one call, and the crate is there already
/// (no file-system crate is needed for one number).
fn free_space(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is a NUL-terminated string and `stats` a buffer of the
    // right type, filled by the call when it returns 0.
    if unsafe { libc::statvfs(path.as_ptr(), stats.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: the call returned 0, so it filled `stats`.
    let stats = unsafe { stats.assume_init() };
    Some(stats.f_bavail.saturating_mul(stats.f_frsize))
}

impl PendingFile {
    pub async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.file.write_all(bytes).await
    }

    /// Where the bytes are while pending (to make a preview from).
    pub fn path(&self) -> &Path {
        &self.temp
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        if !self.kept {
            // One unlink: cheap enough to do in place, even on a runtime thread.
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

fn object_path(prefix: &str, key: &str) -> ObjectPath {
    if prefix.is_empty() {
        ObjectPath::from(key)
    } else {
        ObjectPath::from(format!("{prefix}/{key}"))
    }
}

/// Streams a local file to a multipart upload; aborted on any failure.
async fn upload(
    store: &dyn ObjectStore,
    location: &ObjectPath,
    file: &Path,
) -> std::io::Result<()> {
    let multipart = store
        .put_multipart(location)
        .await
        .map_err(std::io::Error::other)?;
    let mut writer = WriteMultipart::new(multipart);
    let mut source = tokio::fs::File::open(file).await?;
    let mut buffer = vec![0u8; UPLOAD_CHUNK];
    loop {
        let read = match source.read(&mut buffer).await {
            Ok(read) => read,
            Err(error) => {
                let _ = writer.abort().await;
                return Err(error);
            }
        };
        if read == 0 {
            break;
        }
        if let Err(error) = writer.wait_for_capacity(4).await {
            let _ = writer.abort().await;
            return Err(std::io::Error::other(error));
        }
        writer.write(&buffer[..read]);
    }
    writer
        .finish()
        .await
        .map(|_| ())
        .map_err(std::io::Error::other)
}

async fn sync_dir(dir: &Path) -> std::io::Result<()> {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || std::fs::File::open(&dir)?.sync_all())
        .await
        .map_err(std::io::Error::other)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_locations_are_folders_or_s3_urls() {
        let none = |_: &str| None;
        assert_eq!(
            StorageLocation::parse("./data/files", none).unwrap(),
            StorageLocation::Folder("./data/files".into())
        );
        let env =
            |name: &str| (name == "AWS_ENDPOINT_URL").then(|| "http://127.0.0.1:5000".to_string());
        match StorageLocation::parse("s3://adjuntos/soporte/", env).unwrap() {
            StorageLocation::ObjectStore(s) => {
                assert_eq!(
                    (s.bucket.as_str(), s.prefix.as_str()),
                    ("adjuntos", "soporte")
                );
                assert_eq!(s.endpoint.as_deref(), Some("http://127.0.0.1:5000"));
                assert_eq!(s.region, "us-east-1");
            }
            other => panic!("{other:?}"),
        }
        assert!(StorageLocation::parse("gs://x", none).is_err());
        assert!(StorageLocation::parse("s3:///x", none).is_err());
    }
}
