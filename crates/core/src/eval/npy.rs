//! Minimal NPY (v1.0, little-endian `f32`, C order) writer and reader, so embeddings can be opened
//! with `numpy.load`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// Magic, version and the 2-byte header length.
const PREAMBLE_LEN: usize = 10;
/// numpy pads the preamble + header to a multiple of this.
const ALIGN: usize = 64;

/// numpy leaves room for the growth axis (`shape[0]` in C order) to reach this many digits.
const GROWTH_AXIS_MAX_DIGITS: usize = 21;

/// The header text `numpy.save` writes for a C-order `<f4` array of `shape` (numpy's
/// `_write_array_header` + `_wrap_header`): the dict, growth-axis spaces, padding spaces and a
/// newline, so that preamble plus header is a multiple of 64 bytes (a whole extra 64 when the
/// unpadded length is already aligned, as numpy does).
fn header(shape: &[usize]) -> String {
    let dims = match shape {
        [] => String::new(),
        [d] => format!("{d},"),
        _ => shape
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(", "),
    };
    let mut h = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({dims}), }}");
    if let Some(first) = shape.first() {
        let digits = first.to_string().len();
        h.extend(std::iter::repeat_n(
            ' ',
            GROWTH_AXIS_MAX_DIGITS.saturating_sub(digits),
        ));
    }
    let pad = ALIGN - (PREAMBLE_LEN + h.len() + 1) % ALIGN;
    h.extend(std::iter::repeat_n(' ', pad));
    h.push('\n');
    h
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

/// Writes `data` with `shape` as an NPY file, via `path.tmp` and a rename.
pub fn write_npy(path: &Path, data: &[f32], shape: &[usize]) -> std::io::Result<()> {
    let expected: usize = shape.iter().product();
    if expected != data.len() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "{}: shape {shape:?} needs {expected} values, got {}",
                path.display(),
                data.len()
            ),
        ));
    }
    let header = header(shape);
    let header_len = u16::try_from(header.len()).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "{}: shape {shape:?} is too long for an NPY v1.0 header",
                path.display()
            ),
        )
    })?;
    let tmp = tmp_path(path);
    let result = (|| {
        let mut w = BufWriter::new(File::create(&tmp)?);
        w.write_all(MAGIC)?;
        w.write_all(&[1, 0])?;
        w.write_all(&header_len.to_le_bytes())?;
        w.write_all(header.as_bytes())?;
        for chunk in data.chunks(16 * 1024) {
            let bytes: Vec<u8> = chunk.iter().flat_map(|v| v.to_le_bytes()).collect();
            w.write_all(&bytes)?;
        }
        w.into_inner().map_err(|e| e.into_error())?.sync_all()
    })();
    match result {
        Ok(()) => std::fs::rename(&tmp, path),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Reads an NPY file as written by [`write_npy`]: returns the values and the shape.
pub fn read_npy(path: &Path) -> Result<(Vec<f32>, Vec<usize>), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_npy(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn parse_npy(bytes: &[u8]) -> Result<(Vec<f32>, Vec<usize>), String> {
    if bytes.len() < PREAMBLE_LEN {
        return Err(format!(
            "truncated: {} bytes, expected at least the {PREAMBLE_LEN}-byte NPY preamble",
            bytes.len()
        ));
    }
    if &bytes[..6] != MAGIC {
        return Err(format!(
            "not an NPY file: expected magic \\x93NUMPY, found {:?}",
            String::from_utf8_lossy(&bytes[..6])
        ));
    }
    if bytes[6..8] != [1, 0] {
        return Err(format!(
            "unsupported NPY version {}.{}, expected 1.0",
            bytes[6], bytes[7]
        ));
    }
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let data_start = PREAMBLE_LEN + header_len;
    let header = bytes
        .get(PREAMBLE_LEN..data_start)
        .ok_or_else(|| format!("truncated header: expected {header_len} bytes"))?;
    let header = std::str::from_utf8(header).map_err(|_| "header is not ASCII".to_string())?;
    let shape = parse_header(header)?;
    let count = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| format!("shape {shape:?} overflows"))?;
    let payload = &bytes[data_start..];
    let expected = count
        .checked_mul(4)
        .ok_or_else(|| format!("shape {shape:?} overflows"))?;
    if payload.len() != expected {
        return Err(format!(
            "shape {shape:?} needs {expected} data bytes, found {}",
            payload.len()
        ));
    }
    let data = payload
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok((data, shape))
}

/// Extracts the shape from a header dict, requiring `<f4` and C order.
fn parse_header(header: &str) -> Result<Vec<usize>, String> {
    let h = header.trim_end();
    if !h.starts_with('{') || !h.ends_with('}') {
        return Err(format!("header is not a dict: {h:?}"));
    }
    if !h.contains("'descr': '<f4'") {
        return Err(format!("expected 'descr': '<f4' in header, found {h:?}"));
    }
    if !h.contains("'fortran_order': False") {
        return Err(format!(
            "expected 'fortran_order': False in header, found {h:?}"
        ));
    }
    let start = h
        .find("'shape': (")
        .ok_or_else(|| format!("no 'shape' in header {h:?}"))?
        + "'shape': (".len();
    let len = h[start..]
        .find(')')
        .ok_or_else(|| format!("unterminated shape in header {h:?}"))?;
    h[start..start + len]
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| format!("bad dimension {s:?} in header {h:?}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_matches_numpy_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.npy");
        write_npy(&path, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
        let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }";
        // numpy: dict (60) + 20 growth-axis spaces + 37 padding spaces + '\n' = 118 bytes, so the
        // data starts at byte 128.
        let header_len = 118;
        assert_eq!(
            u16::from_le_bytes([bytes[8], bytes[9]]) as usize,
            header_len
        );
        let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
        assert!(header.starts_with(dict), "{header:?}");
        assert!(header.ends_with('\n'));
        assert!(
            header[dict.len()..header_len - 1]
                .bytes()
                .all(|b| b == b' ')
        );
        assert_eq!(bytes.len(), 128 + 6 * 4);
        assert_eq!(&bytes[128..132], &1.0f32.to_le_bytes());
        assert_eq!(&bytes[148..152], &6.0f32.to_le_bytes());
        assert!(!dir.path().join("a.npy.tmp").exists());
    }

    #[test]
    fn one_dimensional_shape_has_trailing_comma() {
        let h = header(&[5]);
        let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }";
        assert!(h.starts_with(dict));
        // 58 + 20 growth spaces + '\n' = 79; +10 = 89 -> padded to 128.
        assert_eq!(PREAMBLE_LEN + h.len(), 128);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.npy");
        let data = [0.5, -1.0, 2.25, f32::MAX, 0.0];
        write_npy(&path, &data, &[5]).unwrap();
        assert_eq!(read_npy(&path).unwrap(), (data.to_vec(), vec![5]));
    }

    #[test]
    fn long_header_pads_to_next_multiple_of_64() {
        let shape = [123456789, 987654321, 1, 2, 3, 4];
        let h = header(&shape);
        assert_eq!((PREAMBLE_LEN + h.len()) % 64, 0);
        assert!(PREAMBLE_LEN + h.len() > 64);
        assert_eq!(parse_header(&h).unwrap(), shape.to_vec());
        // 0-d: no growth spaces; '()' round-trips to an empty shape.
        let h = header(&[]);
        assert!(h.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (), }    "));
        assert_eq!((PREAMBLE_LEN + h.len()) % 64, 0);
        assert_eq!(parse_header(&h).unwrap(), Vec::<usize>::new());
    }

    #[test]
    fn round_trip_2d() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("emb.npy");
        let data: Vec<f32> = (0..40).map(|i| i as f32 * 0.25 - 3.0).collect();
        write_npy(&path, &data, &[8, 5]).unwrap();
        let (back, shape) = read_npy(&path).unwrap();
        assert_eq!(shape, vec![8, 5]);
        assert_eq!(back, data);
        // Overwriting an existing file works too.
        write_npy(&path, &data[..10], &[2, 5]).unwrap();
        assert_eq!(read_npy(&path).unwrap().1, vec![2, 5]);
    }

    #[test]
    fn shape_mismatch_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_npy(&dir.path().join("x.npy"), &[1.0, 2.0], &[3]).unwrap_err();
        assert!(err.to_string().contains("needs 3 values, got 2"), "{err}");
    }

    #[test]
    fn bad_magic_truncation_and_wrong_dtype_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.npy");
        write_npy(&path, &[1.0, 2.0, 3.0, 4.0], &[2, 2]).unwrap();
        let good = std::fs::read(&path).unwrap();
        let check = |bytes: &[u8], needle: &str| {
            let p = dir.path().join("bad.npy");
            std::fs::write(&p, bytes).unwrap();
            let err = read_npy(&p).unwrap_err();
            assert!(err.contains("bad.npy"), "{err}");
            assert!(err.contains(needle), "expected {needle:?} in {err:?}");
        };
        let mut bad_magic = good.clone();
        bad_magic[1] = b'X';
        check(&bad_magic, "not an NPY file");
        check(&good[..5], "truncated");
        check(&good[..40], "truncated header");
        check(&good[..good.len() - 1], "needs 16 data bytes, found 15");
        let mut extra = good.clone();
        extra.push(0);
        check(&extra, "found 17");
        let mut wrong_dtype = good.clone();
        let pos = wrong_dtype.windows(3).position(|w| w == b"<f4").unwrap();
        wrong_dtype[pos + 2] = b'8';
        check(&wrong_dtype, "'descr': '<f4'");
        let mut fortran = good.clone();
        let pos = fortran.windows(5).position(|w| w == b"False").unwrap();
        fortran[pos..pos + 5].copy_from_slice(b"True ");
        check(&fortran, "fortran_order");
        let mut version = good;
        version[6] = 2;
        check(&version, "version 2.0");
        assert!(
            read_npy(&dir.path().join("missing.npy"))
                .unwrap_err()
                .contains("missing.npy")
        );
    }
}
