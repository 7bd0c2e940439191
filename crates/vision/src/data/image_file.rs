//! One image file's bytes to pixels, within stated limits: the file's size, and the size its
//! header gives, are checked before anything is decoded, and the decoder's own allocations are
//! capped.

use std::io::{Cursor, Read};
use std::path::Path;

use image::{ColorType, DynamicImage, ImageDecoder, ImageReader, Limits};

use super::DataError;

/// Largest image file read, from a folder or an archive: 256 MiB.
pub const MAX_IMAGE_FILE_BYTES: u64 = 256 << 20;

/// Largest decoded image: 256 MiB of pixels (8192 x 8192 RGBA), checked against the image's
/// header before decoding; the decoder may use as much again for its own buffers.
pub const MAX_IMAGE_BYTES: usize = 256 << 20;

/// Longest side of an image: 16,384 pixels.
pub const MAX_IMAGE_SIDE: u32 = 16_384;

/// Reads an image file, refusing one larger than [`MAX_IMAGE_FILE_BYTES`] before reading it.
pub(crate) fn read_image_file(path: &Path) -> Result<Vec<u8>, DataError> {
    let io_error = |e| DataError::io(path, e);
    let file = std::fs::File::open(path).map_err(io_error)?;
    let len = file.metadata().map_err(io_error)?.len();
    if len > MAX_IMAGE_FILE_BYTES {
        return Err(DataError::invalid(
            path,
            format!("expected an image file of at most {MAX_IMAGE_FILE_BYTES} bytes, found {len}"),
        ));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    // A file that grows while read stops at the limit all the same.
    file.take(MAX_IMAGE_FILE_BYTES)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    Ok(bytes)
}

/// A reader of `bytes` with its format guessed from their first bytes.
fn image_reader(bytes: &[u8]) -> Result<ImageReader<Cursor<&[u8]>>, String> {
    ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string())
}

/// The size and colour type an image's header gives, refused when over [`MAX_IMAGE_SIDE`] or
/// [`MAX_IMAGE_BYTES`].
pub(crate) fn image_header(bytes: &[u8]) -> Result<(u32, u32, ColorType), String> {
    let mut reader = image_reader(bytes)?;
    // Reading the header allocates no pixels; the checks below come before any do.
    reader.no_limits();
    let decoder = reader.into_decoder().map_err(|e| e.to_string())?;
    let (width, height) = decoder.dimensions();
    let colour = decoder.color_type();
    if width == 0 || height == 0 {
        return Err(format!(
            "expected a positive width and height, found {width}x{height} pixels"
        ));
    }
    if width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE {
        return Err(format!(
            "expected at most {MAX_IMAGE_SIDE} pixels on a side, found {width}x{height}"
        ));
    }
    let bytes_per_pixel = u64::from(colour.bytes_per_pixel());
    let decoded = u64::from(width) * u64::from(height) * bytes_per_pixel;
    if decoded > MAX_IMAGE_BYTES as u64 {
        return Err(format!(
            "expected at most {MAX_IMAGE_BYTES} bytes of pixels, found {width}x{height} pixels of \
             {bytes_per_pixel} bytes ({decoded} bytes)"
        ));
    }
    Ok((width, height, colour))
}

/// Decodes one image after checking its header (see [`image_header`]), with the image crate's
/// allocation limit set to twice [`MAX_IMAGE_BYTES`].
pub(crate) fn decode_image(bytes: &[u8]) -> Result<DynamicImage, String> {
    image_header(bytes)?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(2 * MAX_IMAGE_BYTES as u64);
    let mut reader = image_reader(bytes)?;
    reader.limits(limits);
    reader.decode().map_err(|e| e.to_string())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The CRC-32 that ends a PNG chunk.
    fn crc32(bytes: &[u8]) -> u32 {
        !bytes.iter().fold(u32::MAX, |crc, &b| {
            (0..8).fold(crc ^ u32::from(b), |c, _| {
                if c & 1 == 1 {
                    (c >> 1) ^ 0xedb8_8320
                } else {
                    c >> 1
                }
            })
        })
    }

    /// A PNG whose header says `w x h` 8-bit pixels of colour type `colour` (0 gray, 2 RGB),
    /// followed by a few bytes of image data.
    pub(crate) fn png_claiming(w: u32, h: u32, colour: u8) -> Vec<u8> {
        let chunk = |kind: &[u8], data: &[u8]| {
            let body = [kind, data].concat();
            [
                (data.len() as u32).to_be_bytes().as_slice(),
                &body,
                &crc32(&body).to_be_bytes(),
            ]
            .concat()
        };
        let ihdr = [
            &w.to_be_bytes()[..],
            &h.to_be_bytes(),
            &[8, colour, 0, 0, 0],
        ]
        .concat();
        [
            b"\x89PNG\r\n\x1a\n".as_slice(),
            &chunk(b"IHDR", &ihdr),
            &chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]),
            &chunk(b"IEND", &[]),
        ]
        .concat()
    }

    #[test]
    fn header_of_a_valid_png_gives_its_size_and_colour() {
        let img = image::RgbImage::from_pixel(5, 3, image::Rgb([1, 2, 3]));
        let mut png = Cursor::new(Vec::new());
        img.write_to(&mut png, image::ImageFormat::Png).unwrap();
        let bytes = png.into_inner();
        assert_eq!(image_header(&bytes).unwrap(), (5, 3, ColorType::Rgb8));
        assert_eq!(decode_image(&bytes).unwrap().into_rgb8(), img);
    }

    #[test]
    fn header_with_a_zero_side_is_refused() {
        assert!(image_header(&png_claiming(0, 5, 0)).is_err());
    }

    #[test]
    fn header_claims_are_checked_before_decoding() {
        assert_eq!(
            image_header(&png_claiming(16_385, 1, 0)).unwrap_err(),
            "expected at most 16384 pixels on a side, found 16385x1"
        );
        // 8192 x 8192 RGB is 192 MiB: within the limit, so only its missing data fails it.
        assert!(image_header(&png_claiming(8192, 8192, 2)).is_ok());
        assert!(decode_image(&png_claiming(8192, 8192, 2)).is_err());
    }
}
