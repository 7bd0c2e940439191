//! MNIST IDX files (`*-idx3-ubyte` images, `*-idx1-ubyte` labels), raw or gzip-compressed.

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

use super::{DataError, ImageData, ImageSet};

const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Reads a whole file, decompressing it when it starts with the gzip magic bytes.
fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>, DataError> {
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    if !raw.starts_with(&GZIP_MAGIC) {
        return Ok(raw);
    }
    let mut out = Vec::with_capacity(raw.len() * 4);
    GzDecoder::new(raw.as_slice())
        .read_to_end(&mut out)
        .map_err(|e| DataError::invalid(path, format!("cannot decompress gzip data: {e}")))?;
    Ok(out)
}

/// Checks the magic number and returns the dimensions and the data after the header.
fn parse_header<'a>(
    path: &Path,
    bytes: &'a [u8],
    magic: u32,
    what: &str,
) -> Result<(Vec<usize>, &'a [u8]), DataError> {
    let ndims = (magic & 0xff) as usize;
    let header_len = 4 + 4 * ndims;
    if bytes.len() < 4 {
        return Err(DataError::invalid(
            path,
            format!(
                "truncated IDX file: expected a {header_len}-byte header, found {} bytes",
                bytes.len()
            ),
        ));
    }
    let found = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if found != magic {
        return Err(DataError::invalid(
            path,
            format!("not an IDX {what} file: expected magic 0x{magic:08x}, found 0x{found:08x}"),
        ));
    }
    if bytes.len() < header_len {
        return Err(DataError::invalid(
            path,
            format!(
                "truncated IDX file: expected a {header_len}-byte header, found {} bytes",
                bytes.len()
            ),
        ));
    }
    let dims = bytes[4..header_len]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    Ok((dims, &bytes[header_len..]))
}

/// Checks that the data after the header has exactly `expected` bytes.
fn check_len(
    path: &Path,
    data: &[u8],
    expected: usize,
    header_says: &str,
) -> Result<(), DataError> {
    use std::cmp::Ordering;
    match data.len().cmp(&expected) {
        Ordering::Equal => Ok(()),
        Ordering::Less => Err(DataError::invalid(
            path,
            format!(
                "truncated IDX file: header says {header_says} ({expected} bytes), found {} bytes",
                data.len()
            ),
        )),
        Ordering::Greater => Err(DataError::invalid(
            path,
            format!(
                "header says {header_says} ({expected} bytes), found {} bytes: {} unexpected trailing bytes",
                data.len(),
                data.len() - expected
            ),
        )),
    }
}

/// Reads an IDX image file (magic 0x00000803, dims N x H x W) into an unlabeled 1-channel set.
pub fn read_idx_images(path: &Path) -> Result<ImageSet, DataError> {
    let mut bytes = read_maybe_gzip(path)?;
    let (dims, data) = parse_header(path, &bytes, IMAGES_MAGIC, "image")?;
    let (n, height, width) = (dims[0], dims[1], dims[2]);
    let header_len = bytes.len() - data.len();
    let expected = n
        .checked_mul(height)
        .and_then(|v| v.checked_mul(width))
        .ok_or_else(|| {
            DataError::invalid(path, format!("header size {n}x{height}x{width} overflows"))
        })?;
    let header_says = format!("{n} images of {height}x{width}");
    check_len(path, data, expected, &header_says)?;
    // Reuse the buffer rather than copying tens of megabytes.
    bytes.drain(..header_len);
    Ok(ImageSet {
        channels: 1,
        height,
        width,
        pixels: bytes,
        labels: None,
        class_names: Vec::new(),
    })
}

/// Reads an IDX label file (magic 0x00000801, dims N).
pub fn read_idx_labels(path: &Path) -> Result<Vec<u32>, DataError> {
    let bytes = read_maybe_gzip(path)?;
    let (dims, data) = parse_header(path, &bytes, LABELS_MAGIC, "label")?;
    check_len(path, data, dims[0], &format!("{} labels", dims[0]))?;
    Ok(data.iter().map(|&b| u32::from(b)).collect())
}

/// Reads matching image and label files into one labelled set with class names "0"..=max label.
pub fn read_idx_pair(images: &Path, labels: &Path) -> Result<ImageSet, DataError> {
    let mut set = read_idx_images(images)?;
    let label_values = read_idx_labels(labels)?;
    if label_values.len() != set.len() {
        return Err(DataError::invalid(
            labels,
            format!(
                "has {} labels but {} has {} images",
                label_values.len(),
                images.display(),
                set.len()
            ),
        ));
    }
    let num_classes = label_values.iter().max().map_or(0, |&m| m + 1);
    set.class_names = (0..num_classes).map(|c| c.to_string()).collect();
    set.labels = Some(label_values);
    Ok(set)
}

/// Finds `<dir>/<name>` or `<dir>/<name>.gz`.
fn find_idx_file(dir: &Path, name: &str) -> Option<PathBuf> {
    [name.to_string(), format!("{name}.gz")]
        .into_iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
}

/// Finds an images + labels pair; `Ok(None)` when neither file exists.
fn find_pair(dir: &Path, prefix: &str) -> Result<Option<(PathBuf, PathBuf)>, DataError> {
    let images_name = format!("{prefix}-images-idx3-ubyte");
    let labels_name = format!("{prefix}-labels-idx1-ubyte");
    match (
        find_idx_file(dir, &images_name),
        find_idx_file(dir, &labels_name),
    ) {
        (Some(images), Some(labels)) => Ok(Some((images, labels))),
        (None, None) => Ok(None),
        (Some(_), None) => Err(DataError::invalid(
            dir,
            format!("has {images_name} but no {labels_name}[.gz]"),
        )),
        (None, Some(_)) => Err(DataError::invalid(
            dir,
            format!("has {labels_name} but no {images_name}[.gz]"),
        )),
    }
}

/// Reads an MNIST-style folder: the `train-*` pair (required) and the `t10k-*` pair (optional).
pub fn read_idx_dir(dir: &Path) -> Result<ImageData, DataError> {
    if !dir.is_dir() {
        return Err(DataError::invalid(
            dir,
            "not a folder: pass the folder that holds the IDX files",
        ));
    }
    let (train_images, train_labels) = find_pair(dir, "train")?.ok_or_else(|| {
        DataError::invalid(
            dir,
            "no train-images-idx3-ubyte[.gz] (an IDX folder needs the train pair; t10k is optional)",
        )
    })?;
    let train = read_idx_pair(&train_images, &train_labels)?;
    let test = match find_pair(dir, "t10k")? {
        Some((images, labels)) => Some(read_idx_pair(&images, &labels)?),
        None => None,
    };
    if let Some(test) = &test
        && (test.height, test.width) != (train.height, train.width)
    {
        return Err(DataError::invalid(
            dir,
            format!(
                "train images are {}x{} but t10k images are {}x{}",
                train.height, train.width, test.height, test.width
            ),
        ));
    }
    Ok(ImageData { train, test })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    /// IDX image bytes for `n` images of `h x w`, pixel value = (i + r + c) % 256.
    pub(crate) fn idx_images_bytes(n: usize, h: usize, w: usize) -> Vec<u8> {
        let mut out = IMAGES_MAGIC.to_be_bytes().to_vec();
        for d in [n, h, w] {
            out.extend_from_slice(&(d as u32).to_be_bytes());
        }
        for i in 0..n {
            for r in 0..h {
                for c in 0..w {
                    out.push(((i + r + c) % 256) as u8);
                }
            }
        }
        out
    }

    pub(crate) fn idx_labels_bytes(labels: &[u8]) -> Vec<u8> {
        let mut out = LABELS_MAGIC.to_be_bytes().to_vec();
        out.extend_from_slice(&(labels.len() as u32).to_be_bytes());
        out.extend_from_slice(labels);
        out
    }

    pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    fn bundled(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("data/mnist")
            .join(name)
    }

    #[test]
    fn raw_and_gzip_images_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = idx_images_bytes(3, 4, 5);
        let raw = dir.path().join("x-images-idx3-ubyte");
        // The gzip reader must trust the magic bytes, not the name.
        let gz = dir.path().join("x-images-no-extension");
        std::fs::write(&raw, &bytes).unwrap();
        std::fs::write(&gz, gzip(&bytes)).unwrap();
        for path in [&raw, &gz] {
            let set = read_idx_images(path).unwrap();
            assert_eq!(
                (set.len(), set.channels, set.height, set.width),
                (3, 1, 4, 5)
            );
            assert_eq!(set.labels, None);
            // image 2, row 3, column 4 -> 2 + 3 + 4
            assert_eq!(set.image(2)[3 * 5 + 4], 9);
        }
    }

    #[test]
    fn pair_sets_labels_and_class_names() {
        let dir = tempfile::tempdir().unwrap();
        let images = dir.path().join("i");
        let labels = dir.path().join("l");
        std::fs::write(&images, idx_images_bytes(4, 2, 2)).unwrap();
        std::fs::write(&labels, idx_labels_bytes(&[3, 0, 1, 3])).unwrap();
        let set = read_idx_pair(&images, &labels).unwrap();
        assert_eq!(set.labels, Some(vec![3, 0, 1, 3]));
        assert_eq!(set.class_names, vec!["0", "1", "2", "3"]);
        assert_eq!(set.num_classes(), 4);
    }

    #[test]
    fn pair_count_mismatch_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let images = dir.path().join("i");
        let labels = dir.path().join("l");
        std::fs::write(&images, idx_images_bytes(4, 2, 2)).unwrap();
        std::fs::write(&labels, idx_labels_bytes(&[1, 2, 3])).unwrap();
        let msg = read_idx_pair(&images, &labels).unwrap_err().to_string();
        assert!(
            msg.contains("has 3 labels") && msg.contains("4 images"),
            "{msg}"
        );
    }

    #[test]
    fn truncated_file_names_file_and_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("train-images-idx3-ubyte");
        let mut bytes = idx_images_bytes(10, 28, 28);
        bytes.truncate(16 + 1234);
        std::fs::write(&path, &bytes).unwrap();
        let msg = read_idx_images(&path).unwrap_err().to_string();
        assert!(msg.starts_with(&path.display().to_string()), "{msg}");
        assert!(
            msg.contains(
                "truncated IDX file: header says 10 images of 28x28 (7840 bytes), found 1234 bytes"
            ),
            "{msg}"
        );
        // Truncated inside the header.
        std::fs::write(&path, &bytes[..10]).unwrap();
        let msg = read_idx_images(&path).unwrap_err().to_string();
        assert!(msg.contains("truncated IDX file"), "{msg}");
        // Truncated gzip stream.
        let gz = gzip(&idx_images_bytes(10, 28, 28));
        std::fs::write(&path, &gz[..gz.len() / 2]).unwrap();
        assert!(read_idx_images(&path).is_err());
    }

    #[test]
    fn trailing_bytes_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l");
        let mut bytes = idx_labels_bytes(&[1, 2]);
        bytes.push(7);
        std::fs::write(&path, &bytes).unwrap();
        let msg = read_idx_labels(&path).unwrap_err().to_string();
        assert!(msg.contains("1 unexpected trailing bytes"), "{msg}");
    }

    #[test]
    fn bad_magic_names_expected_and_found() {
        let dir = tempfile::tempdir().unwrap();
        let labels = dir.path().join("l");
        std::fs::write(&labels, idx_labels_bytes(&[1, 2])).unwrap();
        // A label file passed as images.
        let msg = read_idx_images(&labels).unwrap_err().to_string();
        assert!(
            msg.contains("expected magic 0x00000803, found 0x00000801"),
            "{msg}"
        );
        let msg = read_idx_labels(&dir.path().join("missing")).unwrap_err();
        assert!(matches!(msg, DataError::Io { .. }));
    }

    #[test]
    fn dir_with_train_and_test_pairs() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("train-images-idx3-ubyte"), idx_images_bytes(5, 3, 3)).unwrap();
        std::fs::write(
            d.join("train-labels-idx1-ubyte.gz"),
            gzip(&idx_labels_bytes(&[0, 1, 2, 1, 0])),
        )
        .unwrap();
        let data = read_idx_dir(d).unwrap();
        assert_eq!(data.train.len(), 5);
        assert!(data.test.is_none());
        std::fs::write(
            d.join("t10k-images-idx3-ubyte.gz"),
            gzip(&idx_images_bytes(2, 3, 3)),
        )
        .unwrap();
        std::fs::write(d.join("t10k-labels-idx1-ubyte"), idx_labels_bytes(&[2, 2])).unwrap();
        let data = read_idx_dir(d).unwrap();
        let test = data.test.unwrap();
        assert_eq!(test.labels, Some(vec![2, 2]));
    }

    #[test]
    fn dir_errors_name_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("t10k-images-idx3-ubyte"), idx_images_bytes(2, 3, 3)).unwrap();
        std::fs::write(d.join("t10k-labels-idx1-ubyte"), idx_labels_bytes(&[0, 1])).unwrap();
        let msg = read_idx_dir(d).unwrap_err().to_string();
        assert!(msg.contains(&d.display().to_string()), "{msg}");
        assert!(msg.contains("no train-images-idx3-ubyte[.gz]"), "{msg}");
        std::fs::write(d.join("train-images-idx3-ubyte"), idx_images_bytes(2, 3, 3)).unwrap();
        let msg = read_idx_dir(d).unwrap_err().to_string();
        assert!(msg.contains("no train-labels-idx1-ubyte[.gz]"), "{msg}");
    }

    #[test]
    fn bundled_mnist_test_split() {
        let set = read_idx_pair(
            &bundled("t10k-images-idx3-ubyte.gz"),
            &bundled("t10k-labels-idx1-ubyte.gz"),
        )
        .unwrap();
        assert_eq!(
            (set.len(), set.channels, set.height, set.width),
            (10_000, 1, 28, 28)
        );
        assert_eq!(set.class_names.len(), 10);
        let labels = set.labels.as_ref().unwrap();
        // The canonical first MNIST test labels.
        assert_eq!(&labels[..5], &[7, 2, 1, 0, 4]);
        let mut counts = [0usize; 10];
        for &l in labels {
            counts[l as usize] += 1;
        }
        assert_eq!(
            counts,
            [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
        );
    }
}
