//! Small previews of image attachments, made once when the image is stored
//! and kept beside it.

use image::{ImageFormat, ImageReader, Limits};
use std::io::Cursor;
use std::path::Path;

/// The longest side of a thumbnail, in pixels.
pub const MAX_SIDE: u32 = 320;
/// Images larger than this (in pixels per side) are not decoded: a small file
/// can claim enormous dimensions (a decompression bomb).
const MAX_DECODE_SIDE: u32 = 10_000;
/// Memory the decoder may use.
const MAX_DECODE_BYTES: u64 = 256 * 1024 * 1024;

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
