//! MNIST IDX files (`*-idx3-ubyte` images, `*-idx1-ubyte` labels), raw or gzip-compressed.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

use super::{DataError, ImageData, ImageSet};

const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Most data bytes an IDX file may hold after its header: 2 GiB, four times EMNIST's largest
/// file. A header claiming more is refused before anything is read, and a gzipped file is never
/// decompressed past its header's claim, so neither a false header nor a decompression bomb
/// allocates more than the data the header describes.
pub const MAX_IDX_DATA_BYTES: usize = 2 << 30;

/// An open IDX file: its bytes, decompressed when it starts with the gzip magic bytes (whatever
/// its name).
struct IdxReader {
    bytes: Box<dyn Read>,
    /// Length on disk.
    file_len: u64,
    gzip: bool,
}

impl IdxReader {
    fn open(path: &Path) -> Result<IdxReader, DataError> {
        let file = File::open(path).map_err(|e| DataError::io(path, e))?;
        let file_len = file.metadata().map_err(|e| DataError::io(path, e))?.len();
        let mut reader = BufReader::new(file);
        let gzip = reader
            .fill_buf()
            .map_err(|e| DataError::io(path, e))?
            .starts_with(&GZIP_MAGIC);
        let bytes: Box<dyn Read> = if gzip {
            Box::new(GzDecoder::new(reader))
        } else {
            Box::new(reader)
        };
        Ok(IdxReader {
            bytes,
            file_len,
            gzip,
        })
    }

    /// Reads at most `limit` more bytes into a buffer made for `capacity`.
    fn read_up_to(
        &mut self,
        path: &Path,
        limit: u64,
        capacity: usize,
    ) -> Result<Vec<u8>, DataError> {
        let mut out = Vec::with_capacity(capacity);
        match self.bytes.by_ref().take(limit).read_to_end(&mut out) {
            Ok(_) => Ok(out),
            Err(e) if self.gzip => Err(DataError::invalid(
                path,
                format!("cannot decompress gzip data: {e}"),
            )),
            Err(e) => Err(DataError::io(path, e)),
        }
    }
}

fn truncated_header(path: &Path, header_len: usize, found: usize) -> DataError {
    DataError::invalid(
        path,
        format!("truncated IDX file: expected a {header_len}-byte header, found {found} bytes"),
    )
}

/// Checks the magic number and returns the dimensions the header gives.
fn read_header(
    path: &Path,
    reader: &mut IdxReader,
    magic: u32,
    what: &str,
) -> Result<Vec<usize>, DataError> {
    let ndims = (magic & 0xff) as usize;
    let header_len = 4 + 4 * ndims;
    let header = reader.read_up_to(path, header_len as u64, header_len)?;
    if header.len() < 4 {
        return Err(truncated_header(path, header_len, header.len()));
    }
    let found = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    if found != magic {
        return Err(DataError::invalid(
            path,
            format!("not an IDX {what} file: expected magic 0x{magic:08x}, found 0x{found:08x}"),
        ));
    }
    if header.len() < header_len {
        return Err(truncated_header(path, header_len, header.len()));
    }
    Ok(header[4..]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect())
}

/// Reads the `expected` data bytes after the header, checking that the file holds exactly that
/// many: an uncompressed file by its length before reading, a gzipped one by decompressing one
/// byte past the claim at most.
fn read_data(
    path: &Path,
    mut reader: IdxReader,
    ndims: usize,
    expected: usize,
    header_says: &str,
) -> Result<Vec<u8>, DataError> {
    if expected > MAX_IDX_DATA_BYTES {
        return Err(DataError::invalid(
            path,
            format!(
                "header says {header_says} ({expected} bytes), more than the {} GiB an IDX file \
                 may hold",
                MAX_IDX_DATA_BYTES >> 30
            ),
        ));
    }
    // A gzipped file's buffer starts at what its compressed size suggests and grows as data
    // arrives; an uncompressed one is checked by its length before it is read.
    let capacity = if reader.gzip {
        let compressed = usize::try_from(reader.file_len).unwrap_or(usize::MAX);
        expected.min(compressed.saturating_mul(4))
    } else {
        let found = reader.file_len.saturating_sub(4 + 4 * ndims as u64);
        check_len(path, found, expected, header_says)?;
        expected
    };
    let data = reader.read_up_to(path, expected as u64 + 1, capacity)?;
    if reader.gzip && data.len() > expected {
        return Err(DataError::invalid(
            path,
            format!(
                "header says {header_says} ({expected} bytes), found more: unexpected trailing \
                 bytes after decompression"
            ),
        ));
    }
    check_len(path, data.len() as u64, expected, header_says)?;
    Ok(data)
}

/// Checks that the data after the header has exactly `expected` bytes (`found` bytes).
fn check_len(path: &Path, found: u64, expected: usize, header_says: &str) -> Result<(), DataError> {
    use std::cmp::Ordering;
    match found.cmp(&(expected as u64)) {
        Ordering::Equal => Ok(()),
        Ordering::Less => Err(DataError::invalid(
            path,
            format!(
                "truncated IDX file: header says {header_says} ({expected} bytes), found {found} bytes"
            ),
        )),
        Ordering::Greater => Err(DataError::invalid(
            path,
            format!(
                "header says {header_says} ({expected} bytes), found {found} bytes: {} unexpected trailing bytes",
                found - expected as u64
            ),
        )),
    }
}

/// Reads an IDX image file (magic 0x00000803, dims N x H x W) into an unlabeled 1-channel set.
pub fn read_idx_images(path: &Path) -> Result<ImageSet, DataError> {
    let mut reader = IdxReader::open(path)?;
    let dims = read_header(path, &mut reader, IMAGES_MAGIC, "image")?;
    let (n, height, width) = (dims[0], dims[1], dims[2]);
    let header_says = format!("{n} images of {height}x{width}");
    if height == 0 || width == 0 {
        return Err(DataError::invalid(
            path,
            format!("header says {header_says}: expected a positive height and width"),
        ));
    }
    let expected = n
        .checked_mul(height)
        .and_then(|v| v.checked_mul(width))
        .ok_or_else(|| {
            DataError::invalid(path, format!("header size {n}x{height}x{width} overflows"))
        })?;
    let pixels = read_data(path, reader, dims.len(), expected, &header_says)?;
    Ok(ImageSet {
        channels: 1,
        height,
        width,
        pixels,
        labels: None,
        class_names: Vec::new(),
    })
}

/// Reads an IDX label file (magic 0x00000801, dims N).
pub fn read_idx_labels(path: &Path) -> Result<Vec<u32>, DataError> {
    let mut reader = IdxReader::open(path)?;
    let dims = read_header(path, &mut reader, LABELS_MAGIC, "label")?;
    let n = dims[0];
    let data = read_data(path, reader, dims.len(), n, &format!("{n} labels"))?;
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
            .join("../../data/mnist")
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
    fn header_claiming_more_than_the_cap_is_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("train-images-idx3-ubyte");
        let mut bytes = idx_images_bytes(0, 28, 28);
        bytes[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        bytes.extend_from_slice(&[1; 100]);
        for file in [bytes.clone(), gzip(&bytes)] {
            std::fs::write(&path, file).unwrap();
            let msg = read_idx_images(&path).unwrap_err().to_string();
            assert_eq!(
                msg,
                format!(
                    "{}: header says 4294967295 images of 28x28 (3367254359280 bytes), more than \
                     the 2 GiB an IDX file may hold",
                    path.display()
                )
            );
        }
    }

    #[test]
    fn gzip_bomb_is_decompressed_no_further_than_the_header_claims() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.gz");
        let mut bytes = idx_labels_bytes(&[1, 2]);
        bytes.resize(bytes.len() + (1 << 20), 0);
        std::fs::write(&path, gzip(&bytes)).unwrap();
        let msg = read_idx_labels(&path).unwrap_err().to_string();
        assert_eq!(
            msg,
            format!(
                "{}: header says 2 labels (2 bytes), found more: unexpected trailing bytes after \
                 decompression",
                path.display()
            )
        );
    }

    #[test]
    fn zero_sized_images_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("i");
        std::fs::write(&path, idx_images_bytes(5, 0, 28)).unwrap();
        let msg = read_idx_images(&path).unwrap_err().to_string();
        assert_eq!(
            msg,
            format!(
                "{}: header says 5 images of 0x28: expected a positive height and width",
                path.display()
            )
        );
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
