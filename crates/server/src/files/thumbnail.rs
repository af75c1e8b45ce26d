//! Small previews of image attachments, made once when the image is stored
//! and kept beside it.

use image::{ImageFormat, ImageReader, Limits};
use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// The longest side of a thumbnail, in pixels.
pub const MAX_SIDE: u32 = 320;
/// Images larger than this (in pixels per side) are not decoded: a small file
/// can claim enormous dimensions (a decompression bomb).
const MAX_DECODE_SIDE: u32 = 10_000;
/// Memory one decode may use: a 24-megapixel RGBA photo (a small file can
/// still claim it: see [`Previews`] for how many run at once).
pub const MAX_DECODE_BYTES: u64 = 128 * 1024 * 1024;
/// How long an upload waits for a decoding slot before it is kept without a
/// preview.
const WAIT_FOR_A_SLOT: Duration = Duration::from_secs(3);

/// Decodes for previews, a bounded number at once: each may take up to
/// [`MAX_DECODE_BYTES`], so the memory uploads can force is
/// `slots × MAX_DECODE_BYTES` however many arrive together. An upload that
/// finds no slot in time is kept without a preview; it never fails for it.
pub struct Previews {
    /// `None`: no previews are made.
    slots: Option<Arc<Semaphore>>,
}

impl Previews {
    /// `slots` decodes at once; none: no previews are made.
    pub fn new(slots: usize) -> Previews {
        Previews {
            slots: (slots > 0).then(|| Arc::new(Semaphore::new(slots))),
        }
    }

    /// A PNG preview of the image at `path`, or `None` (no slot in time, or
    /// not decodable within the limits).
    pub async fn make(&self, path: &Path) -> Option<Vec<u8>> {
        let slots = self.slots.clone()?;
        let slot = tokio::time::timeout(WAIT_FOR_A_SLOT, slots.acquire_owned())
            .await
            .ok()?
            .ok()?;
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            make(&path)
        })
        .await
        .ok()
        .flatten()
    }
}

/// A PNG thumbnail of the image at `path`, or `None` when it cannot be
/// decoded within the limits (the upload is kept, without a preview).
pub fn make(path: &Path) -> Option<Vec<u8>> {
    let mut reader = ImageReader::open(path).ok()?.with_guessed_format().ok()?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DECODE_SIDE);
    limits.max_image_height = Some(MAX_DECODE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let image = reader.decode().ok()?;
    let thumbnail = image.thumbnail(MAX_SIDE, MAX_SIDE);
    let mut bytes = Cursor::new(Vec::new());
    thumbnail.write_to(&mut bytes, ImageFormat::Png).ok()?;
    Some(bytes.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CRC-32 (ISO-HDLC), as PNG chunks use it.
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &byte in bytes {
            crc ^= byte as u32;
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    /// A real 2x2 PNG whose header is then made to claim `side` x `side`.
    fn png_claiming(side: Option<u32>) -> Vec<u8> {
        let mut bytes = Cursor::new(Vec::new());
        image::RgbaImage::new(2, 2)
            .write_to(&mut bytes, ImageFormat::Png)
            .unwrap();
        let mut png = bytes.into_inner();
        assert_eq!(&png[12..16], b"IHDR");
        if let Some(side) = side {
            png[16..20].copy_from_slice(&side.to_be_bytes());
            png[20..24].copy_from_slice(&side.to_be_bytes());
            let crc = crc32(&png[12..29]);
            png[29..33].copy_from_slice(&crc.to_be_bytes());
        }
        png
    }

    #[test]
    fn an_image_over_the_decode_limits_gets_no_preview() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, width: u32, height: u32| {
            let path = dir.path().join(name);
            image::RgbaImage::new(width, height).save(&path).unwrap();
            path
        };
        assert!(make(&write("justa.png", MAX_DECODE_SIDE, 1)).is_some());
        assert!(make(&write("ancha.png", MAX_DECODE_SIDE + 1, 1)).is_none());
        assert!(make(&write("alta.png", 1, MAX_DECODE_SIDE + 1)).is_none());
        // A few bytes claiming 50,000 x 50,000 (10 GB decoded): refused from
        // the header, nothing allocated.
        let bomb = dir.path().join("bomba.png");
        std::fs::write(&bomb, png_claiming(Some(50_000))).unwrap();
        assert!(make(&bomb).is_none());
        let honest = dir.path().join("pequeña.png");
        std::fs::write(&honest, png_claiming(None)).unwrap();
        assert!(make(&honest).is_some());
    }
}
