//! Datasets: format readers that return typed, in-memory image sets, plus splits and label budgets.

pub mod cache;
pub mod folder;
pub mod idx;
pub mod image_file;
pub mod named;

pub mod tar;

pub use autodidact_core::split;

use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Any error from reading a data set: always names the file and the problem.
pub use autodidact_core::error::DataError;

/// Images of one size, stored as `u8` in `N x C x H x W` order, with optional labels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageSet {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// `len() * channels * height * width` bytes, sample-major, then channel, row, column.
    pub pixels: Vec<u8>,
    /// One class index per image, or `None` for unlabeled data.
    pub labels: Option<Vec<u32>>,
    /// Class names indexed by label (digits "0".."9" for MNIST, sub-folder names for folders).
    pub class_names: Vec<String>,
}

impl ImageSet {
    /// Unlabelled images of one size, `pixels` in `N x C x H x W` order.
    pub fn unlabelled(channels: usize, height: usize, width: usize, pixels: Vec<u8>) -> Self {
        Self {
            channels,
            height,
            width,
            pixels,
            labels: None,
            class_names: Vec::new(),
        }
    }

    /// Number of bytes of one image.
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        if self.image_len() == 0 {
            0
        } else {
            self.pixels.len() / self.image_len()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The pixels of image `i` (`C x H x W`).
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.pixels[i * n..(i + 1) * n]
    }

    /// Number of classes (0 when unlabeled).
    pub fn num_classes(&self) -> usize {
        match &self.labels {
            Some(labels) => self
                .class_names
                .len()
                .max(labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0)),
            None => 0,
        }
    }

    /// A new set holding the images at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> ImageSet {
        let mut pixels = Vec::with_capacity(indices.len() * self.image_len());
        for &i in indices {
            pixels.extend_from_slice(self.image(i));
        }
        ImageSet {
            channels: self.channels,
            height: self.height,
            width: self.width,
            pixels,
            labels: self
                .labels
                .as_ref()
                .map(|l| indices.iter().map(|&i| l[i]).collect()),
            class_names: self.class_names.clone(),
        }
    }

    /// A copy with every image resized (bilinear) to `height x width`.
    pub fn resized(&self, height: usize, width: usize) -> ImageSet {
        if (height, width) == (self.height, self.width) {
            return self.clone();
        }
        let (src_plane, dst_plane) = (self.height * self.width, height * width);
        let mut pixels = vec![0u8; self.len() * self.channels * dst_plane];
        if dst_plane > 0 && src_plane > 0 {
            pixels
                .par_chunks_mut(dst_plane)
                .zip(self.pixels.par_chunks(src_plane))
                .for_each(|(dst, src)| {
                    let plane = image::GrayImage::from_raw(
                        self.width as u32,
                        self.height as u32,
                        src.to_vec(),
                    )
                    .expect("a plane holds height * width bytes");
                    let out = image::imageops::resize(
                        &plane,
                        width as u32,
                        height as u32,
                        image::imageops::FilterType::Triangle,
                    );
                    dst.copy_from_slice(out.as_raw());
                });
        }
        ImageSet {
            height,
            width,
            pixels,
            ..self.clone()
        }
    }
}

/// A data set as read from disk: a train split and, where the source has one, a test split.
#[derive(Clone, Debug)]
pub struct ImageData {
    pub train: ImageSet,
    pub test: Option<ImageSet>,
}

/// How to read an image data path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    /// Detect from the path (see [`detect_format`]).
    Auto,
    /// MNIST IDX files (raw or gzip).
    Idx,
    /// A folder of PNG/JPEG files.
    Folder,
    /// A `.tar` or `.tar.gz` holding the folder layout.
    Tar,
}

/// Detects how to read `path`: a folder with `*idx3-ubyte*` files is IDX, another folder is an
/// image folder, a `.tar`/`.tar.gz`/`.tgz` file is a tar archive.
pub fn detect_format(path: &Path) -> Result<ImageFormat, DataError> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(DataError::invalid(path, "no such file or directory"));
        }
        Err(e) => return Err(DataError::io(path, e)),
    };
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).map_err(|e| DataError::io(path, e))? {
            let entry = entry.map_err(|e| DataError::io(path, e))?;
            if is_idx_name(&entry.file_name().to_string_lossy()) {
                return Ok(ImageFormat::Idx);
            }
        }
        return Ok(ImageFormat::Folder);
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if [".tar", ".tar.gz", ".tgz"]
        .iter()
        .any(|ext| name.ends_with(ext))
    {
        return Ok(ImageFormat::Tar);
    }
    if is_idx_name(&name) || name.contains("idx1-ubyte") {
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        return Err(DataError::invalid(
            path,
            format!(
                "is a single IDX file: pass the folder that holds the IDX files ({}) instead",
                parent.display()
            ),
        ));
    }
    Err(DataError::invalid(
        path,
        "cannot detect the data format: expected a folder (of IDX files or images) or a \
         .tar/.tar.gz/.tgz archive",
    ))
}

fn is_idx_name(name: &str) -> bool {
    name.to_ascii_lowercase().contains("idx3-ubyte")
}

/// Reads an image data set in `format` (`Auto`: see [`detect_format`]), resized to
/// `target_size` (height, width) when given; tar and folder sets go through the cache in
/// `cache_dir` when one is given.
pub fn load_images(
    path: &Path,
    format: ImageFormat,
    target_size: Option<(usize, usize)>,
    cache_dir: Option<&Path>,
) -> Result<ImageData, DataError> {
    if let Some((h, w)) = target_size
        && (h == 0 || w == 0)
    {
        return Err(DataError::invalid(
            path,
            format!("target size must be positive, got {h}x{w}"),
        ));
    }
    let format = match format {
        ImageFormat::Auto => detect_format(path)?,
        other => other,
    };
    let decode = || match format {
        ImageFormat::Tar => tar::read_image_tar(path, target_size),
        _ => folder::read_image_folder(path, target_size),
    };
    match (format, cache_dir) {
        (ImageFormat::Idx | ImageFormat::Auto, _) => {
            let data = idx::read_idx_dir(path)?;
            Ok(match target_size {
                None => data,
                Some((h, w)) => ImageData {
                    train: data.train.resized(h, w),
                    test: data.test.map(|t| t.resized(h, w)),
                },
            })
        }
        (_, Some(dir)) => cache::cached(dir, path, format, target_size, decode),
        (_, None) => decode(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::folder::tests::gray_png;
    use crate::data::idx::tests::{idx_images_bytes, idx_labels_bytes};

    fn write_mnist_like(dir: &Path) {
        std::fs::write(
            dir.join("train-images-idx3-ubyte"),
            idx_images_bytes(3, 4, 4),
        )
        .unwrap();
        std::fs::write(
            dir.join("train-labels-idx1-ubyte"),
            idx_labels_bytes(&[0, 1, 1]),
        )
        .unwrap();
    }

    #[test]
    fn detects_formats_and_explains_failures() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert_eq!(detect_format(d).unwrap(), ImageFormat::Folder);
        write_mnist_like(d);
        assert_eq!(detect_format(d).unwrap(), ImageFormat::Idx);
        for name in ["a.tar", "a.TAR.GZ", "a.tgz"] {
            std::fs::write(d.join(name), b"").unwrap();
            assert_eq!(detect_format(&d.join(name)).unwrap(), ImageFormat::Tar);
        }
        let msg = detect_format(&d.join("train-images-idx3-ubyte"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("pass the folder"), "{msg}");
        let msg = detect_format(&d.join("nope")).unwrap_err().to_string();
        assert!(msg.ends_with("nope: no such file or directory"), "{msg}");
        std::fs::write(d.join("x.csv"), b"").unwrap();
        assert!(detect_format(&d.join("x.csv")).is_err());
    }

    #[test]
    fn load_images_auto_idx_with_resize() {
        let dir = tempfile::tempdir().unwrap();
        write_mnist_like(dir.path());
        let data = load_images(dir.path(), ImageFormat::Auto, None, None).unwrap();
        assert_eq!((data.train.len(), data.train.height), (3, 4));
        let data = load_images(dir.path(), ImageFormat::Idx, Some((2, 6)), None).unwrap();
        assert_eq!((data.train.height, data.train.width), (2, 6));
        assert_eq!(data.train.pixels.len(), 3 * 12);
        assert_eq!(data.train.labels, Some(vec![0, 1, 1]));
        assert!(load_images(dir.path(), ImageFormat::Idx, Some((0, 6)), None).is_err());
    }

    #[test]
    fn resized_keeps_constant_images_constant() {
        let set = ImageSet {
            channels: 2,
            height: 3,
            width: 3,
            pixels: [vec![10; 9], vec![200; 9]].concat(),
            labels: None,
            class_names: Vec::new(),
        };
        let small = set.resized(2, 5);
        assert_eq!(small.pixels, [vec![10; 10], vec![200; 10]].concat());
        assert_eq!(set.resized(3, 3), set);
    }

    #[test]
    fn load_images_folder_through_cache() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("imgs");
        std::fs::create_dir_all(root.join("cat")).unwrap();
        std::fs::write(root.join("cat/a.png"), gray_png(3, 3, 5)).unwrap();
        let cache = dir.path().join("cache");
        let first = load_images(&root, ImageFormat::Auto, None, Some(&cache)).unwrap();
        assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 1);
        let second = load_images(&root, ImageFormat::Folder, None, Some(&cache)).unwrap();
        assert_eq!(first.train, second.train);
        assert_eq!(second.train.class_names, vec!["cat"]);
    }

    #[test]
    fn bundled_mnist_folder_needs_the_train_pair() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist");
        assert_eq!(detect_format(&dir).unwrap(), ImageFormat::Idx);
        let msg = load_images(&dir, ImageFormat::Auto, None, None)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("no train-images-idx3-ubyte[.gz]"), "{msg}");
    }
}
