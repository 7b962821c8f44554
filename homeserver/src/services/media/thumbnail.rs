//! Thumbnails: `scale` fits the image inside the asked box, `crop` fills the box and cuts
//! what overflows, both with the `image` crate, never larger than the original. Images
//! decode under limits, so a small file claiming huge dimensions cannot exhaust memory.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, ImageReader, Limits, imageops::FilterType};

/// The largest side of a thumbnail; larger requests get this.
pub const MAX_SIDE: u32 = 1600;
/// The largest image decoded, in pixels per side.
const MAX_DECODE_SIDE: u32 = 12_000;

/// How to fit the image into the asked size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Keep the aspect ratio, inside the box.
    Scale,
    /// Fill the box, cropping the overflow.
    Crop,
}

impl Fit {
    /// The name used in the cache.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scale => "scale",
            Self::Crop => "crop",
        }
    }
}

/// Why no thumbnail was made.
#[derive(Debug, thiserror::Error)]
pub enum ThumbnailError {
    /// The content is not an image the node can read (SVG is not thumbnailed, as in Synapse).
    #[error("cannot generate a thumbnail of this content")]
    NotAnImage,
}

/// A thumbnail of `data` no larger than `width` x `height` (clamped to [`MAX_SIDE`]), and
/// its content type: PNG for images with transparency or from PNG and GIF, JPEG otherwise.
pub fn make(
    data: &[u8],
    width: u32,
    height: u32,
    fit: Fit,
) -> Result<(Vec<u8>, &'static str), ThumbnailError> {
    let mut reader = ImageReader::new(Cursor::new(data))
        .with_guessed_format()
        .map_err(|_| ThumbnailError::NotAnImage)?;
    let format = reader.format().ok_or(ThumbnailError::NotAnImage)?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DECODE_SIDE);
    limits.max_image_height = Some(MAX_DECODE_SIDE);
    limits.max_alloc = Some(512 * 1024 * 1024);
    reader.limits(limits);
    let image = reader.decode().map_err(|_| ThumbnailError::NotAnImage)?;
    let width = width.clamp(1, MAX_SIDE).min(image.width());
    let height = height.clamp(1, MAX_SIDE).min(image.height());
    let thumb = match fit {
        Fit::Scale => image.resize(width, height, FilterType::Triangle),
        Fit::Crop => image.resize_to_fill(width, height, FilterType::Triangle),
    };
    let png = image.color().has_alpha() || matches!(format, ImageFormat::Png | ImageFormat::Gif);
    let mut out = Cursor::new(Vec::new());
    if png {
        thumb
            .write_to(&mut out, ImageFormat::Png)
            .map_err(|_| ThumbnailError::NotAnImage)?;
        Ok((out.into_inner(), "image/png"))
    } else {
        DynamicImage::ImageRgb8(thumb.to_rgb8())
            .write_to(&mut out, ImageFormat::Jpeg)
            .map_err(|_| ThumbnailError::NotAnImage)?;
        Ok((out.into_inner(), "image/jpeg"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbaImage::from_fn(w, h, |x, y| image::Rgba([x as u8, y as u8, 7, 255]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn scale_keeps_the_ratio_and_crop_fills_the_box() {
        let data = png(200, 100);
        let (scaled, ct) = make(&data, 50, 50, Fit::Scale).unwrap();
        assert_eq!(ct, "image/png");
        let s = image::load_from_memory(&scaled).unwrap();
        assert_eq!((s.width(), s.height()), (50, 25));
        let (cropped, _) = make(&data, 50, 50, Fit::Crop).unwrap();
        let c = image::load_from_memory(&cropped).unwrap();
        assert_eq!((c.width(), c.height()), (50, 50));
        let (big, _) = make(&data, 100_000, 100_000, Fit::Scale).unwrap();
        let b = image::load_from_memory(&big).unwrap();
        assert_eq!((b.width(), b.height()), (200, 100));
        assert!(
            make(
                b"<svg xmlns='http://www.w3.org/2000/svg'/>",
                10,
                10,
                Fit::Scale
            )
            .is_err()
        );
        assert!(make(b"plain text", 10, 10, Fit::Scale).is_err());
    }
}
