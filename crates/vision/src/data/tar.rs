//! The image-folder layout read straight from a `.tar`, `.tar.gz` or `.tgz`, without extracting.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Component, Path};

use flate2::read::GzDecoder;

use super::folder::{ImageSource, RawSplit, decode_splits, is_hidden_name, is_image_name};
use super::image_file::MAX_IMAGE_FILE_BYTES;
use super::{DataError, ImageData};

/// One regular-file member, read into memory.
pub(crate) struct Member<'a> {
    tar: &'a Path,
    /// Path components inside the archive, without `.` and the root.
    pub components: Vec<String>,
    bytes: Vec<u8>,
}

impl Member<'_> {
    fn name(&self) -> String {
        self.components.join("/")
    }
}

impl ImageSource for Member<'_> {
    fn bytes(&self) -> Result<Cow<'_, [u8]>, DataError> {
        Ok(Cow::Borrowed(&self.bytes))
    }

    fn decode_error(&self, reason: String) -> DataError {
        DataError::invalid(
            self.tar,
            format!("member {}: cannot decode image: {reason}", self.name()),
        )
    }
}

/// Opens `path`, decompressing when it starts with the gzip magic bytes (whatever its name).
fn open_archive(path: &Path) -> Result<Box<dyn Read>, DataError> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let is_gzip = reader
        .fill_buf()
        .map_err(|e| DataError::io(path, e))?
        .starts_with(&[0x1f, 0x8b]);
    Ok(if is_gzip {
        Box::new(GzDecoder::new(reader))
    } else {
        Box::new(reader)
    })
}

/// Most bytes of image members an archive may hold in all: 4 GiB. With each member at most
/// [`MAX_IMAGE_FILE_BYTES`] (checked against its header before it is read), this bounds what a
/// decompression bomb can make the reader hold.
pub const MAX_ARCHIVE_IMAGE_BYTES: u64 = 4 << 30;

/// The most bytes the reader holds: per member and in all.
#[derive(Clone, Copy)]
pub(crate) struct Caps {
    member: u64,
    total: u64,
}

pub(crate) const CAPS: Caps = Caps {
    member: MAX_IMAGE_FILE_BYTES,
    total: MAX_ARCHIVE_IMAGE_BYTES,
};

/// Reads every image member; hidden and macOS metadata members are skipped, any other
/// non-image regular file is an error.
pub(crate) fn read_members(path: &Path, caps: Caps) -> Result<Vec<Member<'_>>, DataError> {
    let read_error =
        |e: std::io::Error| DataError::invalid(path, format!("cannot read tar archive: {e}"));
    let mut archive = tar::Archive::new(open_archive(path)?);
    let mut members = Vec::new();
    let mut total = 0u64;
    for entry in archive.entries().map_err(read_error)? {
        let mut entry = entry.map_err(read_error)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let member_path = entry.path().map_err(read_error)?.into_owned();
        let components: Vec<String> = member_path
            .components()
            .filter_map(|c| match c {
                Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                Component::ParentDir => Some("..".to_string()),
                Component::CurDir | Component::RootDir | Component::Prefix(_) => None,
            })
            .collect();
        if components.is_empty() || components.iter().any(|c| is_hidden_name(c)) {
            continue;
        }
        let name = components.join("/");
        if !is_image_name(&name) {
            return Err(DataError::invalid(
                path,
                format!("member {name} is not an image"),
            ));
        }
        // The header's size is a claim: check it before reading, and let the buffer grow with
        // the bytes that really arrive (the entry yields no more than the claim).
        let size = entry.size();
        if size > caps.member {
            return Err(DataError::invalid(
                path,
                format!(
                    "member {name}: expected an image file of at most {} bytes, found {size}",
                    caps.member
                ),
            ));
        }
        total += size;
        if total > caps.total {
            return Err(DataError::invalid(
                path,
                format!(
                    "expected at most {} bytes of images in all, found more by member {name}",
                    caps.total
                ),
            ));
        }
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| DataError::invalid(path, format!("cannot read member {name}: {e}")))?;
        members.push(Member {
            tar: path,
            components,
            bytes,
        });
    }
    members.sort_by(|a, b| a.components.cmp(&b.components));
    Ok(members)
}

/// The class of a file whose path below its split folder is `rest` (`None`: directly in it).
fn class_of(rest: &[String]) -> Option<String> {
    (rest.len() >= 2).then(|| rest[0].clone())
}

/// Number of leading folders shared by every member (the archive's top folder, if any).
pub(crate) fn common_dir_prefix(members: &[Member<'_>]) -> usize {
    let Some(first) = members.first() else {
        return 0;
    };
    let mut len = first.components.len() - 1;
    for m in &members[1..] {
        let dirs = &m.components[..m.components.len() - 1];
        len = len.min(
            dirs.iter()
                .zip(&first.components)
                .take_while(|(a, b)| a == b)
                .count(),
        );
    }
    len
}

/// Reads a tar (optionally gzip) archive laid out like an image folder (see
/// [`super::folder::read_image_folder`]); a leading top folder or `./` is allowed.
pub fn read_image_tar(
    path: &Path,
    target_size: Option<(usize, usize)>,
) -> Result<ImageData, DataError> {
    let members = read_members(path, CAPS)?;
    let split_pos = |m: &Member<'_>| {
        let dirs = &m.components[..m.components.len() - 1];
        dirs.iter().position(|c| c == "train" || c == "test")
    };
    let mut train = RawSplit {
        origin: path.to_path_buf(),
        items: Vec::new(),
    };
    let mut test = RawSplit {
        origin: path.to_path_buf(),
        items: Vec::new(),
    };
    if members.iter().any(|m| split_pos(m).is_some()) {
        for m in members {
            let Some(pos) = split_pos(&m) else {
                return Err(DataError::invalid(
                    path,
                    format!(
                        "member {} is outside the train/ and test/ folders",
                        m.name()
                    ),
                ));
            };
            let class = class_of(&m.components[pos + 1..]);
            if m.components[pos] == "train" {
                train.items.push((m, class));
            } else {
                test.items.push((m, class));
            }
        }
        if train.items.is_empty() {
            return Err(DataError::invalid(
                path,
                "has a test/ folder but no train/ folder",
            ));
        }
    } else {
        let prefix = common_dir_prefix(&members);
        for m in members {
            let class = class_of(&m.components[prefix..]);
            train.items.push((m, class));
        }
    }
    let test = (!test.items.is_empty()).then_some(test);
    decode_splits(train, test, target_size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::folder::tests::{gray_png, rgb_jpeg, rgb_png};
    use flate2::Compression;
    use flate2::write::GzEncoder;

    fn tar_bytes(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, bytes) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder
                .append_data(&mut header, name, bytes.as_slice())
                .unwrap();
        }
        builder.into_inner().unwrap()
    }

    fn write_tar(
        dir: &Path,
        name: &str,
        files: &[(&str, Vec<u8>)],
        gzip: bool,
    ) -> std::path::PathBuf {
        let mut bytes = tar_bytes(files);
        if gzip {
            let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
            std::io::Write::write_all(&mut enc, &bytes).unwrap();
            bytes = enc.finish().unwrap();
        }
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn tar_gz_with_top_folder_and_splits() {
        let dir = tempfile::tempdir().unwrap();
        let files = vec![
            ("cifar/train/dog/1.png", rgb_png(4, 4, 11)),
            ("cifar/train/cat/2.png", rgb_png(4, 4, 22)),
            ("cifar/train/cat/1.png", rgb_png(4, 4, 33)),
            ("cifar/train/._1.png", b"mac metadata".to_vec()),
            ("cifar/.DS_Store", b"x".to_vec()),
            ("cifar/test/cat/9.png", rgb_png(4, 4, 44)),
        ];
        for (name, gzip) in [("a.tar.gz", true), ("a.tar", false), ("b.tgz", true)] {
            let path = write_tar(dir.path(), name, &files, gzip);
            let data = read_image_tar(&path, None).unwrap();
            let train = &data.train;
            assert_eq!(train.class_names, vec!["cat", "dog"]);
            assert_eq!(train.labels, Some(vec![0, 0, 1]));
            let reds: Vec<u8> = (0..3).map(|i| train.image(i)[0]).collect();
            assert_eq!(reds, vec![33, 22, 11]);
            let test = data.test.unwrap();
            assert_eq!((test.len(), test.channels), (1, 3));
            assert_eq!(test.labels, Some(vec![0]));
        }
    }

    #[test]
    fn dot_slash_paths_and_resizing() {
        let dir = tempfile::tempdir().unwrap();
        let files = vec![
            ("./train/a/1.png", gray_png(6, 6, 70)),
            ("./train/b/1.png", gray_png(3, 3, 80)),
        ];
        let path = write_tar(dir.path(), "x.tar", &files, false);
        let data = read_image_tar(&path, Some((2, 2))).unwrap();
        assert_eq!(data.train.labels, Some(vec![0, 1]));
        assert_eq!(data.train.pixels, [[70u8; 4], [80; 4]].concat());
        assert!(data.test.is_none());
    }

    #[test]
    fn flat_archive_in_top_folder_is_unlabeled() {
        let dir = tempfile::tempdir().unwrap();
        let files = vec![
            ("imgs/1.png", gray_png(2, 2, 1)),
            ("imgs/2.png", gray_png(2, 2, 2)),
        ];
        let path = write_tar(dir.path(), "x.tar", &files, false);
        let set = read_image_tar(&path, None).unwrap().train;
        assert_eq!((set.len(), set.labels.clone()), (2, None));
        let files = vec![
            ("top/a/1.png", gray_png(2, 2, 1)),
            ("top/b/2.png", gray_png(2, 2, 2)),
        ];
        let path = write_tar(dir.path(), "y.tar", &files, false);
        let set = read_image_tar(&path, None).unwrap().train;
        assert_eq!(set.class_names, vec!["a", "b"]);
    }

    #[test]
    fn non_image_member_names_tar_and_member() {
        let dir = tempfile::tempdir().unwrap();
        let files = vec![
            ("foo/train/a/1.png", gray_png(2, 2, 1)),
            ("foo/readme.txt", b"hello".to_vec()),
        ];
        let path = write_tar(dir.path(), "x.tar.gz", &files, true);
        let msg = read_image_tar(&path, None).unwrap_err().to_string();
        assert_eq!(
            msg,
            format!("{}: member foo/readme.txt is not an image", path.display())
        );
    }

    #[test]
    fn corrupt_jpeg_member_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let mut bad = rgb_jpeg(8, 8, 9);
        bad.truncate(20);
        let files = vec![
            ("train/cat/0000.jpg", rgb_jpeg(8, 8, 9)),
            ("train/cat/0001.jpg", bad),
        ];
        let path = write_tar(dir.path(), "x.tar", &files, false);
        let msg = read_image_tar(&path, None).unwrap_err().to_string();
        let expected = format!(
            "{}: member train/cat/0001.jpg: cannot decode image:",
            path.display()
        );
        assert!(msg.starts_with(&expected), "{msg}");
    }

    #[test]
    fn member_larger_than_the_cap_is_refused_before_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let files = vec![
            ("train/a/1.png", gray_png(2, 2, 1)),
            ("train/a/2.png", vec![0; 5000]),
        ];
        let path = write_tar(dir.path(), "x.tar.gz", &files, true);
        let caps = Caps {
            member: 4096,
            total: 1 << 20,
        };
        let err = read_members(&path, caps).err().unwrap().to_string();
        assert_eq!(
            err,
            format!(
                "{}: member train/a/2.png: expected an image file of at most 4096 bytes, found 5000",
                path.display()
            )
        );
    }

    #[test]
    fn members_larger_than_the_cap_in_all_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<(String, Vec<u8>)> = (0..5)
            .map(|i| (format!("train/a/{i}.png"), gray_png(8, 8, i)))
            .collect();
        let files: Vec<(&str, Vec<u8>)> =
            files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
        let path = write_tar(dir.path(), "x.tar", &files, false);
        let three: u64 = files[..3].iter().map(|(_, b)| b.len() as u64).sum();
        let caps = Caps {
            member: 1 << 20,
            total: three,
        };
        let err = read_members(&path, caps).err().unwrap().to_string();
        assert_eq!(
            err,
            format!(
                "{}: expected at most {} bytes of images in all, found more by member train/a/3.png",
                path.display(),
                three
            )
        );
        assert_eq!(read_members(&path, CAPS).unwrap().len(), 5);
    }

    #[test]
    fn truncated_and_empty_archives_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let files = vec![("train/a/1.png", gray_png(2, 2, 1))];
        let path = write_tar(dir.path(), "x.tar.gz", &files, true);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let msg = read_image_tar(&path, None).unwrap_err().to_string();
        assert!(msg.starts_with(&path.display().to_string()), "{msg}");
        let path = write_tar(dir.path(), "empty.tar", &[], false);
        let msg = read_image_tar(&path, None).unwrap_err().to_string();
        assert!(msg.contains("no images found"), "{msg}");
    }
}
