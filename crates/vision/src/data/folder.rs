//! Folders of PNG/JPEG images (`<root>/{train,test}/<class>/<file>`), plus the decoding shared with
//! the tar reader: every image becomes `C x H x W` bytes of one common size and channel count.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use image::ColorType;
use image::imageops::{self, FilterType};
use rayon::prelude::*;

use super::image_file::{MAX_IMAGE_BYTES, decode_image, image_header, read_image_file};
use super::{DataError, ImageData, ImageSet};

/// Pixels decoded per batch (at least one image): a set's pixel buffer grows with the images
/// decoded, never ahead of them by more than this, whatever the number of files.
const DECODE_BATCH_BYTES: usize = 64 << 20;

/// Whether a file name has an image extension this crate decodes (png, jpg, jpeg).
pub(crate) fn is_image_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".png", ".jpg", ".jpeg"]
        .iter()
        .any(|ext| lower.ends_with(ext))
}

/// Hidden files and macOS metadata (`.DS_Store`, `._x.jpg`, `__MACOSX`) are never data.
pub(crate) fn is_hidden_name(name: &str) -> bool {
    name.starts_with('.') || name == "__MACOSX"
}

/// The channel count and size that every image of a data set is converted to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

impl Layout {
    /// Three channels if the first image (whose header gives `width x height` of `colour`) is
    /// colour, else one; its size unless `target` (height, width) is given. At most
    /// [`MAX_IMAGE_BYTES`] per image.
    fn of_first_image(
        (width, height, colour): (u32, u32, ColorType),
        target: Option<(usize, usize)>,
    ) -> Result<Layout, String> {
        let channels = if colour.has_color() { 3 } else { 1 };
        let Some((height, width)) = target else {
            // The header check bounds the native size already.
            return Ok(Layout {
                channels,
                height: height as usize,
                width: width as usize,
            });
        };
        let bytes = (channels as u64) * (height as u64) * (width as u64);
        if bytes > MAX_IMAGE_BYTES as u64 {
            return Err(format!(
                "target size {height}x{width} of {channels} channels needs {bytes} bytes per \
                 image: expected at most {MAX_IMAGE_BYTES}"
            ));
        }
        Ok(Layout {
            channels,
            height,
            width,
        })
    }

    fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }
}

/// Reads `paths` as one set of `channels x side x side` images, each converted and resized as
/// [`decode_into`] does (a list of files handed to a finished run, rather than a folder).
pub fn read_image_files(
    paths: &[PathBuf],
    channels: usize,
    side: usize,
) -> Result<ImageSet, DataError> {
    let layout = Layout {
        channels,
        height: side,
        width: side,
    };
    let mut pixels = vec![0u8; paths.len() * layout.image_len()];
    for (path, out) in paths
        .iter()
        .zip(pixels.chunks_exact_mut(layout.image_len()))
    {
        let bytes = read_image_file(path)?;
        image_header(&bytes)
            .and_then(|_| decode_into(&bytes, layout, out))
            .map_err(|reason| DataError::invalid(path, reason))?;
    }
    Ok(ImageSet::unlabelled(channels, side, side, pixels))
}

/// Decodes PNG/JPEG `bytes` into `out` (`C x H x W`), converting channels and resizing (bilinear).
pub(crate) fn decode_into(bytes: &[u8], layout: Layout, out: &mut [u8]) -> Result<(), String> {
    let img = decode_image(bytes)?;
    let (w, h) = (layout.width as u32, layout.height as u32);
    if layout.channels == 1 {
        let mut gray = img.into_luma8();
        if gray.dimensions() != (w, h) {
            gray = imageops::resize(&gray, w, h, FilterType::Triangle);
        }
        out.copy_from_slice(gray.as_raw());
    } else {
        let mut rgb = img.into_rgb8();
        if rgb.dimensions() != (w, h) {
            rgb = imageops::resize(&rgb, w, h, FilterType::Triangle);
        }
        let plane = layout.height * layout.width;
        let (r, rest) = out.split_at_mut(plane);
        let (g, b) = rest.split_at_mut(plane);
        for (i, px) in rgb.as_raw().chunks_exact(3).enumerate() {
            r[i] = px[0];
            g[i] = px[1];
            b[i] = px[2];
        }
    }
    Ok(())
}

/// Where one image's encoded bytes come from, and how to name it in an error.
pub(crate) trait ImageSource: Sync {
    fn bytes(&self) -> Result<Cow<'_, [u8]>, DataError>;
    fn decode_error(&self, reason: String) -> DataError;
}

/// One split before decoding: its images in order, each with its class name (`None`: unlabeled).
pub(crate) struct RawSplit<S> {
    /// The folder or archive path named by "no images found" errors.
    pub origin: PathBuf,
    pub items: Vec<(S, Option<String>)>,
}

/// Decodes a train split and an optional test split (in parallel) into one common layout.
///
/// Train's class names (sorted) index the labels of both splits.
pub(crate) fn decode_splits<S: ImageSource>(
    train: RawSplit<S>,
    test: Option<RawSplit<S>>,
    target: Option<(usize, usize)>,
) -> Result<ImageData, DataError> {
    if let Some((h, w)) = target
        && (h == 0 || w == 0)
    {
        return Err(DataError::invalid(
            &train.origin,
            format!("target size must be positive, got {h}x{w}"),
        ));
    }
    let Some((first, _)) = train.items.first() else {
        return Err(DataError::invalid(&train.origin, "no images found"));
    };
    let header = image_header(&first.bytes()?).map_err(|reason| first.decode_error(reason))?;
    let layout = Layout::of_first_image(header, target)
        .map_err(|reason| DataError::invalid(&train.origin, reason))?;
    let train_classes = class_names(&train)?;
    let train_set = decode_split(&train, layout, train_classes.as_deref())?;
    let test_set = match test {
        None => None,
        Some(test) => {
            if test.items.is_empty() {
                return Err(DataError::invalid(&test.origin, "no images found"));
            }
            let names = match (&train_classes, class_names(&test)?) {
                (Some(train_names), Some(test_names)) => {
                    if let Some(missing) = test_names.iter().find(|n| !train_names.contains(n)) {
                        return Err(DataError::invalid(
                            &test.origin,
                            format!("test class {missing:?} does not occur in the train split"),
                        ));
                    }
                    Some(train_names.clone())
                }
                (None, test_names) => test_names,
                // Labelled train, unlabeled test: keep train's names for reference.
                (Some(_), None) => None,
            };
            let mut set = decode_split(&test, layout, names.as_deref())?;
            if set.labels.is_none() {
                set.class_names = train_classes.clone().unwrap_or_default();
            }
            Some(set)
        }
    };
    Ok(ImageData {
        train: train_set,
        test: test_set,
    })
}

/// Sorted class names of a labelled split, `None` for an unlabeled one; mixed is an error.
fn class_names<S>(split: &RawSplit<S>) -> Result<Option<Vec<String>>, DataError> {
    let labelled = split.items.iter().filter(|(_, c)| c.is_some()).count();
    if labelled == 0 {
        return Ok(None);
    }
    if labelled != split.items.len() {
        return Err(DataError::invalid(
            &split.origin,
            "holds both loose images and class sub-folders: put every image in a class folder",
        ));
    }
    let names: BTreeSet<&str> = split
        .items
        .iter()
        .filter_map(|(_, c)| c.as_deref())
        .collect();
    Ok(Some(names.into_iter().map(str::to_string).collect()))
}

fn decode_split<S: ImageSource>(
    split: &RawSplit<S>,
    layout: Layout,
    class_names: Option<&[String]>,
) -> Result<ImageSet, DataError> {
    let labels = match class_names {
        None => None,
        Some(names) => {
            let index: HashMap<&str, u32> = names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.as_str(), i as u32))
                .collect();
            Some(
                split
                    .items
                    .iter()
                    .map(|(_, class)| {
                        let class = class.as_deref().unwrap_or_default();
                        index.get(class).copied().ok_or_else(|| {
                            DataError::invalid(
                                &split.origin,
                                format!("class {class:?} does not occur in the train split"),
                            )
                        })
                    })
                    .collect::<Result<Vec<u32>, DataError>>()?,
            )
        }
    };
    let image_len = layout.image_len();
    let mut pixels: Vec<u8> = Vec::new();
    for batch in split.items.chunks((DECODE_BATCH_BYTES / image_len).max(1)) {
        let start = pixels.len();
        let batch_len = batch.len() * image_len;
        pixels.try_reserve(batch_len).map_err(|e| {
            DataError::invalid(
                &split.origin,
                format!(
                    "cannot hold {} images of {}x{}x{} pixels: {e}",
                    split.items.len(),
                    layout.channels,
                    layout.height,
                    layout.width
                ),
            )
        })?;
        pixels.resize(start + batch_len, 0);
        // Report the first failing image in order, not whichever thread failed first.
        let first_error = pixels[start..]
            .par_chunks_mut(image_len)
            .zip(batch.par_iter())
            .enumerate()
            .filter_map(|(i, (out, (source, _)))| {
                let result = source.bytes().and_then(|bytes| {
                    decode_into(&bytes, layout, out).map_err(|reason| source.decode_error(reason))
                });
                result.err().map(|e| (i, e))
            })
            .min_by_key(|(i, _)| *i);
        if let Some((_, e)) = first_error {
            return Err(e);
        }
    }
    pixels.shrink_to_fit();
    Ok(ImageSet {
        channels: layout.channels,
        height: layout.height,
        width: layout.width,
        pixels,
        labels,
        class_names: class_names.map(<[String]>::to_vec).unwrap_or_default(),
    })
}

/// An image file on disk.
pub(crate) struct FileSource(pub PathBuf);

impl ImageSource for FileSource {
    fn bytes(&self) -> Result<Cow<'_, [u8]>, DataError> {
        read_image_file(&self.0).map(Cow::Owned)
    }

    fn decode_error(&self, reason: String) -> DataError {
        DataError::invalid(&self.0, format!("cannot decode image: {reason}"))
    }
}

/// Sorted, visible entries of a folder.
fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        let path = entry.map_err(|e| DataError::io(dir, e))?.path();
        let hidden = path
            .file_name()
            .is_some_and(|n| is_hidden_name(&n.to_string_lossy()));
        if !hidden {
            entries.push(path);
        }
    }
    entries.sort();
    Ok(entries)
}

fn is_image_file(path: &Path) -> bool {
    path.is_file()
        && path
            .file_name()
            .is_some_and(|n| is_image_name(&n.to_string_lossy()))
}

/// Every image file under `dir`, recursively, in sorted path order.
pub(crate) fn images_under(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), DataError> {
    for path in sorted_entries(dir)? {
        if path.is_dir() {
            images_under(&path, out)?;
        } else if is_image_file(&path) {
            out.push(path);
        }
    }
    Ok(())
}

/// One split folder: class sub-folders (labelled) or image files directly in it (unlabeled).
fn collect_split(dir: &Path) -> Result<RawSplit<FileSource>, DataError> {
    let mut items = Vec::new();
    for path in sorted_entries(dir)? {
        if path.is_dir() {
            let class = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut files = Vec::new();
            images_under(&path, &mut files)?;
            items.extend(
                files
                    .into_iter()
                    .map(|f| (FileSource(f), Some(class.clone()))),
            );
        } else if is_image_file(&path) {
            items.push((FileSource(path), None));
        }
    }
    Ok(RawSplit {
        origin: dir.to_path_buf(),
        items,
    })
}

/// Reads an image folder: `<root>/{train,test}/<class>/<file>`, or `<root>/<class>/<file>` (all
/// train), or `<root>/<file>` (unlabeled). Images take the first image's channels and size, or
/// `target_size` (height, width) when given.
pub fn read_image_folder(
    root: &Path,
    target_size: Option<(usize, usize)>,
) -> Result<ImageData, DataError> {
    if !root.is_dir() {
        return Err(DataError::invalid(root, "not a folder"));
    }
    let train_dir = root.join("train");
    let test_dir = root.join("test");
    let (train, test) = match (train_dir.is_dir(), test_dir.is_dir()) {
        (false, false) => (collect_split(root)?, None),
        (true, has_test) => {
            let test = if has_test {
                Some(collect_split(&test_dir)?)
            } else {
                None
            };
            (collect_split(&train_dir)?, test)
        }
        (false, true) => {
            return Err(DataError::invalid(
                root,
                "has a test/ sub-folder but no train/ sub-folder",
            ));
        }
    };
    decode_splits(train, test, target_size)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::data::image_file::MAX_IMAGE_FILE_BYTES;
    use crate::data::image_file::tests::png_claiming;
    use image::{GrayImage, ImageFormat as Codec, Luma, Rgb, RgbImage, Rgba, RgbaImage};
    use std::io::Cursor;

    /// PNG bytes of an RGB image whose red channel is `value` and green is the column index.
    pub(crate) fn rgb_png(w: u32, h: u32, value: u8) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, _| Rgb([value, x as u8, 7]));
        encode(&image::DynamicImage::ImageRgb8(img), Codec::Png)
    }

    pub(crate) fn gray_png(w: u32, h: u32, value: u8) -> Vec<u8> {
        let img = GrayImage::from_pixel(w, h, Luma([value]));
        encode(&image::DynamicImage::ImageLuma8(img), Codec::Png)
    }

    pub(crate) fn rgb_jpeg(w: u32, h: u32, value: u8) -> Vec<u8> {
        let img = RgbImage::from_pixel(w, h, Rgb([value, value, 255 - value]));
        encode(&image::DynamicImage::ImageRgb8(img), Codec::Jpeg)
    }

    fn encode(img: &image::DynamicImage, codec: Codec) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, codec).unwrap();
        out.into_inner()
    }

    fn write(path: &Path, bytes: &[u8]) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    #[test]
    fn png_claiming_more_than_the_side_limit_is_refused_before_decoding() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.png");
        write(&path, &png_claiming(100_000, 100_000, 0));
        let msg = read_image_folder(dir.path(), None).unwrap_err().to_string();
        assert_eq!(
            msg,
            format!(
                "{}: cannot decode image: expected at most 16384 pixels on a side, found \
                 100000x100000",
                path.display()
            )
        );
    }

    #[test]
    fn png_claiming_more_pixel_bytes_than_the_limit_is_refused_before_decoding() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.png");
        write(&path, &png_claiming(16_384, 16_384, 2));
        let msg = read_image_folder(dir.path(), None).unwrap_err().to_string();
        assert_eq!(
            msg,
            format!(
                "{}: cannot decode image: expected at most 268435456 bytes of pixels, found \
                 16384x16384 pixels of 3 bytes (805306368 bytes)",
                path.display()
            )
        );
    }

    #[test]
    fn later_image_claiming_too_much_is_refused_too() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("a.png"), &gray_png(2, 2, 1));
        let path = dir.path().join("b.png");
        write(&path, &png_claiming(20_000, 8, 0));
        let msg = read_image_folder(dir.path(), None).unwrap_err().to_string();
        assert!(
            msg.starts_with(&format!(
                "{}: cannot decode image: expected at most",
                path.display()
            )),
            "{msg}"
        );
    }

    #[test]
    fn target_size_beyond_the_image_limit_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("a.png"), &rgb_png(2, 2, 1));
        let msg = read_image_folder(dir.path(), Some((10_000, 10_000)))
            .unwrap_err()
            .to_string();
        assert_eq!(
            msg,
            format!(
                "{}: target size 10000x10000 of 3 channels needs 300000000 bytes per image: \
                 expected at most 268435456",
                dir.path().display()
            )
        );
    }

    #[test]
    fn image_file_larger_than_the_limit_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("a.png"), &gray_png(2, 2, 1));
        let path = dir.path().join("b.png");
        // A sparse file: no disk space, and reading it would take 256 MiB.
        std::fs::File::create(&path)
            .unwrap()
            .set_len(MAX_IMAGE_FILE_BYTES + 1)
            .unwrap();
        let msg = read_image_folder(dir.path(), None).unwrap_err().to_string();
        assert_eq!(
            msg,
            format!(
                "{}: expected an image file of at most 268435456 bytes, found 268435457",
                path.display()
            )
        );
    }

    #[test]
    fn train_test_classes_labels_and_order() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        write(&r.join("train/dog/b.png"), &rgb_png(4, 3, 20));
        write(&r.join("train/dog/a.png"), &rgb_png(4, 3, 10));
        write(&r.join("train/cat/z.png"), &rgb_png(4, 3, 30));
        write(&r.join("train/cat/notes.txt"), b"not an image");
        write(&r.join("train/cat/.hidden.png"), b"not decoded");
        write(&r.join("test/dog/c.png"), &rgb_png(4, 3, 40));
        let data = read_image_folder(r, None).unwrap();
        let train = &data.train;
        assert_eq!(
            (train.len(), train.channels, train.height, train.width),
            (3, 3, 3, 4)
        );
        assert_eq!(train.class_names, vec!["cat", "dog"]);
        assert_eq!(train.labels, Some(vec![0, 1, 1]));
        // Sorted order: cat/z, dog/a, dog/b; red plane holds the value, green the column.
        let reds: Vec<u8> = (0..3).map(|i| train.image(i)[0]).collect();
        assert_eq!(reds, vec![30, 10, 20]);
        let green_row0: Vec<u8> = train.image(0)[12..16].to_vec();
        assert_eq!(green_row0, vec![0, 1, 2, 3]);
        let test = data.test.unwrap();
        assert_eq!(test.class_names, vec!["cat", "dog"]);
        assert_eq!(test.labels, Some(vec![1]));
    }

    #[test]
    fn test_class_missing_from_train_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        write(&r.join("train/cat/a.png"), &gray_png(2, 2, 1));
        write(&r.join("test/bird/a.png"), &gray_png(2, 2, 1));
        let msg = read_image_folder(r, None).unwrap_err().to_string();
        assert!(msg.contains("\"bird\"") && msg.contains("test"), "{msg}");
    }

    #[test]
    fn flat_folder_is_unlabeled_and_channels_follow_first_image() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        write(&r.join("a.png"), &gray_png(2, 2, 100));
        write(&r.join("b.png"), &rgb_png(2, 2, 200));
        let rgba = RgbaImage::from_pixel(2, 2, Rgba([50, 50, 50, 0]));
        write(
            &r.join("c.png"),
            &encode(&image::DynamicImage::ImageRgba8(rgba), Codec::Png),
        );
        let set = read_image_folder(r, None).unwrap().train;
        assert_eq!(set.labels, None);
        assert_eq!((set.len(), set.channels), (3, 1));
        assert_eq!(set.image(0), &[100; 4]);
        // Colour to gray by luma; alpha dropped, not composited.
        assert_eq!(set.image(2), &[50; 4]);
    }

    #[test]
    fn gray_replicated_to_rgb_when_first_is_colour() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        write(&r.join("x/a.jpg"), &rgb_jpeg(8, 8, 128));
        write(&r.join("x/b.png"), &gray_png(8, 8, 90));
        let set = read_image_folder(r, None).unwrap().train;
        assert_eq!(set.channels, 3);
        assert_eq!(set.labels, Some(vec![0, 0]));
        assert_eq!(set.image(1), &[90; 3 * 64]);
    }

    #[test]
    fn resizes_to_first_or_target_size() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        write(&r.join("a.png"), &gray_png(4, 4, 60));
        write(&r.join("b.png"), &gray_png(8, 2, 60));
        let set = read_image_folder(r, None).unwrap().train;
        assert_eq!((set.height, set.width, set.len()), (4, 4, 2));
        assert_eq!(set.image(1), &[60; 16]);
        let set = read_image_folder(r, Some((3, 5))).unwrap().train;
        assert_eq!((set.height, set.width), (3, 5));
        assert_eq!(set.image(0), &[60; 15]);
        assert!(read_image_folder(r, Some((0, 5))).is_err());
    }

    #[test]
    fn empty_and_corrupt_folders_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        write(&r.join("readme.txt"), b"hello");
        let msg = read_image_folder(r, None).unwrap_err().to_string();
        assert!(msg.contains("no images found"), "{msg}");
        write(&r.join("a.png"), &gray_png(2, 2, 1));
        let mut bad = gray_png(2, 2, 1);
        bad.truncate(bad.len() / 2);
        write(&r.join("b.png"), &bad);
        let msg = read_image_folder(r, None).unwrap_err().to_string();
        assert!(msg.contains("b.png: cannot decode image"), "{msg}");
    }

    #[test]
    fn loose_images_beside_class_folders_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        write(&r.join("a.png"), &gray_png(2, 2, 1));
        write(&r.join("cat/b.png"), &gray_png(2, 2, 1));
        let msg = read_image_folder(r, None).unwrap_err().to_string();
        assert!(msg.contains("loose images"), "{msg}");
    }
}
