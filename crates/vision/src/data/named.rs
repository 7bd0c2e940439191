//! Images looked up by name, for readers that pair images with something else (captions,
//! recordings): every image of a folder (recursively) or of a `.tar`/`.tar.gz`, each named by its
//! path below the folder, or below the archive's top folder (`images/a.jpg` in
//! `images-64.tar.gz` is `a.jpg`).

use std::collections::HashMap;
use std::path::Path;

use super::folder::{FileSource, RawSplit, decode_splits, images_under};
use super::tar::{CAPS, common_dir_prefix, read_members};
use super::{DataError, ImageSet};

/// Unlabelled images in one layout, each with its name.
#[derive(Clone, Debug)]
pub struct NamedImages {
    /// Paths below the folder or the archive's top folder, `/`-separated, sorted.
    pub names: Vec<String>,
    pub images: ImageSet,
}

impl NamedImages {
    /// Each name's index in [`NamedImages::images`].
    pub fn index(&self) -> HashMap<&str, usize> {
        self.names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect()
    }
}

/// Reads every image of the folder or archive at `path`, converted to the first image's channels
/// and to `target` (height, width), or the first image's size.
pub fn read_named_images(
    path: &Path,
    target: Option<(usize, usize)>,
) -> Result<NamedImages, DataError> {
    if path.is_dir() {
        let mut files = Vec::new();
        images_under(path, &mut files)?;
        let names = files
            .iter()
            .map(|f| {
                let rel = f.strip_prefix(path).unwrap_or(f);
                rel.components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .collect();
        let split = RawSplit {
            origin: path.to_path_buf(),
            items: files.into_iter().map(|f| (FileSource(f), None)).collect(),
        };
        let data = decode_splits(split, None, target)?;
        return Ok(NamedImages {
            names,
            images: data.train,
        });
    }
    if !path.exists() {
        return Err(DataError::invalid(path, "no such file or directory"));
    }
    let members = read_members(path, CAPS)?;
    let prefix = common_dir_prefix(&members);
    let names = members
        .iter()
        .map(|m| m.components[prefix..].join("/"))
        .collect();
    let split = RawSplit {
        origin: path.to_path_buf(),
        items: members.into_iter().map(|m| (m, None)).collect(),
    };
    let data = decode_splits(split, None, target)?;
    Ok(NamedImages {
        names,
        images: data.train,
    })
}

/// One image file as a one-image set.
pub fn read_image(path: &Path) -> Result<ImageSet, DataError> {
    if !path.is_file() {
        return Err(DataError::invalid(path, "no such image file"));
    }
    let split = RawSplit {
        origin: path.to_path_buf(),
        items: vec![(FileSource(path.to_path_buf()), None)],
    };
    Ok(decode_splits(split, None, None)?.train)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::folder::tests::{rgb_jpeg, rgb_png};

    #[test]
    fn a_folder_and_its_archive_name_the_same_images_the_same_way() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("images");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("b.png"), rgb_png(4, 4, 200)).unwrap();
        std::fs::write(root.join("a.jpg"), rgb_jpeg(4, 4, 10)).unwrap();
        std::fs::write(root.join("sub/c.png"), rgb_png(4, 4, 90)).unwrap();
        let folder = read_named_images(&root, None).unwrap();
        assert_eq!(folder.names, ["a.jpg", "b.png", "sub/c.png"]);
        assert_eq!(folder.images.len(), 3);
        assert_eq!(folder.images.labels, None);
        assert_eq!(folder.images.image(1)[0], 200);
        assert_eq!(folder.index()["sub/c.png"], 2);

        let tar_path = dir.path().join("images.tar");
        let mut builder = tar::Builder::new(std::fs::File::create(&tar_path).unwrap());
        builder.append_dir_all("images", &root).unwrap();
        builder.finish().unwrap();
        drop(builder);
        let archive = read_named_images(&tar_path, Some((2, 2))).unwrap();
        assert_eq!(archive.names, folder.names);
        assert_eq!((archive.images.height, archive.images.width), (2, 2));
    }

    #[test]
    fn a_missing_path_is_an_error_naming_it() {
        let err = read_named_images(Path::new("/nonexistent/images.tar"), None).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/images.tar"), "{err}");
    }
}
