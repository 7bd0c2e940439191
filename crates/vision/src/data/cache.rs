//! A disk cache of decoded image sets, so a second run skips decoding.
//!
//! File layout: magic, version (u32 LE), metadata length (u32 LE), JSON metadata, then the raw
//! payload: train pixels, train labels (u32 LE, when labelled), then the same for test. A cache
//! file that is unreadable, truncated, stale or fails its checksum is ignored and rewritten.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

use super::{DataError, ImageData, ImageFormat, ImageSet};

const MAGIC: &[u8; 8] = b"ADIDCACH";
const VERSION: u32 = 1;
const MAX_META_LEN: u32 = 64 << 20;

/// The cache folder: `$AUTODIDACT_CACHE`, else `$XDG_CACHE_HOME/autodidact`, else
/// `$HOME/.cache/autodidact`, else `.autodidact-cache`.
pub fn default_cache_dir() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("AUTODIDACT_CACHE") {
        PathBuf::from(dir)
    } else if let Some(dir) = var("XDG_CACHE_HOME") {
        PathBuf::from(dir).join("autodidact")
    } else if let Some(home) = var("HOME") {
        PathBuf::from(home).join(".cache/autodidact")
    } else {
        PathBuf::from(".autodidact-cache")
    }
}

/// FNV-1a, 64-bit: stable across Rust versions, unlike `DefaultHasher`.
fn fnv1a(seed: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(seed, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-style hash over 8-byte words: a fast corruption check for large payloads.
fn checksum(seed: u64, bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(8);
    let mut h = seed;
    for c in &mut chunks {
        let word = u64::from_le_bytes(c.try_into().expect("chunks_exact yields 8 bytes"));
        h = (h ^ word)
            .wrapping_mul(0x0000_0100_0000_01b3)
            .rotate_left(29);
    }
    fnv1a(h, chunks.remainder())
}

/// What a cache entry was computed from: source path, contents fingerprint, format and size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheKey {
    description: String,
    stem: String,
}

impl CacheKey {
    /// The key of `path` read as `format` at `target_size`; a file is fingerprinted by size and
    /// mtime, a folder by the names, sizes and mtimes of everything under it.
    pub fn new(
        path: &Path,
        format: ImageFormat,
        target_size: Option<(usize, usize)>,
    ) -> Result<CacheKey, DataError> {
        let canonical = path.canonicalize().map_err(|e| DataError::io(path, e))?;
        let fingerprint = fingerprint(&canonical)?;
        let description = format!(
            "autodidact cache v{VERSION}|{}|{format:?}|{target_size:?}|{fingerprint:016x}",
            canonical.display()
        );
        let name = canonical
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stem: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(40)
            .collect();
        Ok(CacheKey { description, stem })
    }

    /// The cache file name for this key.
    pub fn file_name(&self) -> String {
        let hash = fnv1a(FNV_OFFSET, self.description.as_bytes());
        format!("{}-{hash:016x}.adcache", self.stem)
    }
}

fn mtime_nanos(meta: &std::fs::Metadata) -> u128 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos())
}

fn fingerprint(path: &Path) -> Result<u64, DataError> {
    let meta = std::fs::metadata(path).map_err(|e| DataError::io(path, e))?;
    let mut h = FNV_OFFSET;
    h = fnv1a(h, &meta.len().to_le_bytes());
    h = fnv1a(h, &mtime_nanos(&meta).to_le_bytes());
    if meta.is_dir() {
        h = fingerprint_dir(path, path, h)?;
    }
    Ok(h)
}

/// Folds every entry below `dir` (sorted: relative name, size, mtime) into `h`.
fn fingerprint_dir(root: &Path, dir: &Path, mut h: u64) -> Result<u64, DataError> {
    let mut entries = std::fs::read_dir(dir)
        .map_err(|e| DataError::io(dir, e))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| DataError::io(dir, e))?;
    entries.sort();
    for path in entries {
        let meta = std::fs::metadata(&path).map_err(|e| DataError::io(&path, e))?;
        let relative = path.strip_prefix(root).unwrap_or(&path);
        h = fnv1a(h, relative.to_string_lossy().as_bytes());
        h = fnv1a(h, &meta.len().to_le_bytes());
        h = fnv1a(h, &mtime_nanos(&meta).to_le_bytes());
        if meta.is_dir() {
            h = fingerprint_dir(root, &path, h)?;
        }
    }
    Ok(h)
}

#[derive(Serialize, Deserialize)]
struct SetMeta {
    channels: usize,
    height: usize,
    width: usize,
    count: usize,
    class_names: Vec<String>,
    has_labels: bool,
}

#[derive(Serialize, Deserialize)]
struct Meta {
    key: String,
    checksum: u64,
    train: SetMeta,
    test: Option<SetMeta>,
}

impl SetMeta {
    fn of(set: &ImageSet) -> SetMeta {
        SetMeta {
            channels: set.channels,
            height: set.height,
            width: set.width,
            count: set.len(),
            class_names: set.class_names.clone(),
            has_labels: set.labels.is_some(),
        }
    }

    /// Payload lengths (pixels, label bytes), or `None` when they overflow.
    fn lengths(&self) -> Option<(usize, usize)> {
        let pixels = self
            .count
            .checked_mul(self.channels)?
            .checked_mul(self.height)?
            .checked_mul(self.width)?;
        let labels = if self.has_labels {
            self.count.checked_mul(4)?
        } else {
            0
        };
        Some((pixels, labels))
    }
}

fn label_bytes(labels: &[u32]) -> Vec<u8> {
    labels.iter().flat_map(|l| l.to_le_bytes()).collect()
}

/// The labels of a set as stored in the payload (empty when unlabeled).
fn label_payload(set: &ImageSet) -> Vec<u8> {
    set.labels.as_deref().map(label_bytes).unwrap_or_default()
}

fn data_checksum(data: &ImageData) -> u64 {
    let mut h = FNV_OFFSET;
    for set in std::iter::once(&data.train).chain(data.test.as_ref()) {
        h = checksum(h, &set.pixels);
        h = checksum(h, &label_payload(set));
    }
    h
}

/// Writes `data` for `key` into `cache_dir` (temporary name, then rename); returns the file.
pub fn store(cache_dir: &Path, key: &CacheKey, data: &ImageData) -> Result<PathBuf, DataError> {
    std::fs::create_dir_all(cache_dir).map_err(|e| DataError::io(cache_dir, e))?;
    let path = cache_dir.join(key.file_name());
    let meta = Meta {
        key: key.description.clone(),
        checksum: data_checksum(data),
        train: SetMeta::of(&data.train),
        test: data.test.as_ref().map(SetMeta::of),
    };
    let json = serde_json::to_vec(&meta).expect("cache metadata is plain data");
    let nanos = std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tmp = cache_dir.join(format!(
        ".{}.tmp-{}-{nanos}",
        key.file_name(),
        std::process::id()
    ));
    let write = || -> std::io::Result<()> {
        let mut w = BufWriter::new(File::create(&tmp)?);
        w.write_all(MAGIC)?;
        w.write_all(&VERSION.to_le_bytes())?;
        let meta_len = u32::try_from(json.len()).map_err(std::io::Error::other)?;
        w.write_all(&meta_len.to_le_bytes())?;
        w.write_all(&json)?;
        for set in std::iter::once(&data.train).chain(data.test.as_ref()) {
            w.write_all(&set.pixels)?;
            w.write_all(&label_payload(set))?;
        }
        w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        DataError::io(&path, e)
    })?;
    Ok(path)
}

fn read_set(r: &mut impl Read, meta: SetMeta) -> Option<ImageSet> {
    let (pixel_len, label_len) = meta.lengths()?;
    let mut pixels = vec![0u8; pixel_len];
    r.read_exact(&mut pixels).ok()?;
    let labels = if meta.has_labels {
        let mut bytes = vec![0u8; label_len];
        r.read_exact(&mut bytes).ok()?;
        Some(
            bytes
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        )
    } else {
        None
    };
    Some(ImageSet {
        channels: meta.channels,
        height: meta.height,
        width: meta.width,
        pixels,
        labels,
        class_names: meta.class_names,
    })
}

/// Reads the entry for `key`, or `None` when it is missing, stale or damaged in any way.
pub fn load(cache_dir: &Path, key: &CacheKey) -> Option<ImageData> {
    let path = cache_dir.join(key.file_name());
    let file = File::open(path).ok()?;
    let file_len = file.metadata().ok()?.len();
    let mut r = BufReader::new(file);
    let mut header = [0u8; 16];
    r.read_exact(&mut header).ok()?;
    let version = u32::from_le_bytes(header[8..12].try_into().ok()?);
    let meta_len = u32::from_le_bytes(header[12..16].try_into().ok()?);
    // The metadata length is a claim: a file too short to hold it is damaged, and reading it
    // would allocate what the claim says for nothing.
    if &header[..8] != MAGIC
        || version != VERSION
        || meta_len > MAX_META_LEN
        || 16 + u64::from(meta_len) > file_len
    {
        return None;
    }
    let mut json = vec![0u8; meta_len as usize];
    r.read_exact(&mut json).ok()?;
    let meta: Meta = serde_json::from_slice(&json).ok()?;
    if meta.key != key.description {
        return None;
    }
    // Check the exact size before allocating anything the metadata asks for.
    let mut expected = 16u64 + u64::from(meta_len);
    for set in std::iter::once(&meta.train).chain(meta.test.as_ref()) {
        let (pixels, labels) = set.lengths()?;
        expected = expected.checked_add(u64::try_from(pixels.checked_add(labels)?).ok()?)?;
    }
    if expected != file_len {
        return None;
    }
    let train = read_set(&mut r, meta.train)?;
    let test = match meta.test {
        Some(m) => Some(read_set(&mut r, m)?),
        None => None,
    };
    let data = ImageData { train, test };
    (data_checksum(&data) == meta.checksum).then_some(data)
}

/// Returns the cached data for `path` or computes it with `decode` and caches it. Cache
/// problems never fail the call: the data is then decoded (and the entry rewritten if possible).
pub fn cached(
    cache_dir: &Path,
    path: &Path,
    format: ImageFormat,
    target_size: Option<(usize, usize)>,
    decode: impl FnOnce() -> Result<ImageData, DataError>,
) -> Result<ImageData, DataError> {
    let Ok(key) = CacheKey::new(path, format, target_size) else {
        return decode();
    };
    if let Some(data) = load(cache_dir, &key) {
        return Ok(data);
    }
    let data = decode()?;
    // A read-only or full cache folder only costs speed.
    let _ = store(cache_dir, &key, &data);
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_data() -> ImageData {
        let train = ImageSet {
            channels: 1,
            height: 2,
            width: 3,
            pixels: (0..18).collect(),
            labels: Some(vec![0, 2, 1]),
            class_names: vec!["a".into(), "b".into(), "c".into()],
        };
        let test = ImageSet {
            labels: None,
            pixels: (100..106).collect(),
            ..train.clone()
        };
        ImageData {
            train,
            test: Some(test),
        }
    }

    fn assert_same(a: &ImageData, b: &ImageData) {
        assert_eq!(a.train, b.train);
        assert_eq!(a.test, b.test);
    }

    #[test]
    fn cache_hit_returns_equal_data_without_decoding() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("set.tar");
        std::fs::write(&source, b"source bytes").unwrap();
        let cache = dir.path().join("cache");
        let first = cached(
            &cache,
            &source,
            ImageFormat::Tar,
            None,
            || Ok(sample_data()),
        )
        .unwrap();
        let second = cached(&cache, &source, ImageFormat::Tar, None, || {
            panic!("a cache hit must not decode")
        })
        .unwrap();
        assert_same(&first, &second);
        // A different target size is a different entry.
        let mut decoded = false;
        cached(&cache, &source, ImageFormat::Tar, Some((4, 4)), || {
            decoded = true;
            Ok(sample_data())
        })
        .unwrap();
        assert!(decoded);
    }

    #[test]
    fn changed_source_misses() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("imgs");
        std::fs::create_dir(&source).unwrap();
        std::fs::write(source.join("a.png"), b"1").unwrap();
        let before = CacheKey::new(&source, ImageFormat::Folder, None).unwrap();
        assert_eq!(
            before,
            CacheKey::new(&source, ImageFormat::Folder, None).unwrap()
        );
        std::fs::write(source.join("b.png"), b"22").unwrap();
        let after = CacheKey::new(&source, ImageFormat::Folder, None).unwrap();
        assert_ne!(before.file_name(), after.file_name());
        assert!(before.file_name().starts_with("imgs-"));
    }

    #[test]
    fn corrupt_cache_file_is_ignored_and_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("set.tgz");
        std::fs::write(&source, b"source").unwrap();
        let cache = dir.path().join("cache");
        let key = CacheKey::new(&source, ImageFormat::Tar, None).unwrap();
        let file = store(&cache, &key, &sample_data()).unwrap();
        let good = std::fs::read(&file).unwrap();

        let mut flipped = good.clone();
        *flipped.last_mut().unwrap() ^= 0xff;
        let damaged: Vec<Vec<u8>> = vec![
            good[..good.len() - 5].to_vec(),
            good[..10].to_vec(),
            Vec::new(),
            flipped,
            [b"NOTCACHE".as_slice(), &good[8..]].concat(),
            // Metadata claimed far past the file's end (the fuzz test checks it allocates
            // nothing for it).
            [&good[..12], MAX_META_LEN.to_le_bytes().as_slice(), b"{}"].concat(),
        ];
        for bytes in damaged {
            std::fs::write(&file, &bytes).unwrap();
            assert!(load(&cache, &key).is_none());
            let data = cached(
                &cache,
                &source,
                ImageFormat::Tar,
                None,
                || Ok(sample_data()),
            )
            .unwrap();
            assert_same(&data, &sample_data());
            assert_eq!(std::fs::read(&file).unwrap(), good, "entry rewritten");
        }
        // No temporary files are left behind.
        assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 1);
    }

    #[test]
    fn unwritable_cache_dir_is_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("set.tar");
        std::fs::write(&source, b"x").unwrap();
        // A file where the cache folder should be.
        let cache = dir.path().join("not-a-dir");
        std::fs::write(&cache, b"").unwrap();
        let data = cached(
            &cache,
            &source,
            ImageFormat::Tar,
            None,
            || Ok(sample_data()),
        )
        .unwrap();
        assert_same(&data, &sample_data());
    }

    #[test]
    fn fnv1a_matches_reference_values() {
        assert_eq!(fnv1a(FNV_OFFSET, b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(FNV_OFFSET, b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
