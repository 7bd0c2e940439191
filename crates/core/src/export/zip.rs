//! A zip archive of stored (uncompressed) files, each file's data aligned to 64 bytes as
//! PyTorch writes its own archives.

/// Alignment of every file's data in the archive.
const ALIGN: usize = 64;
/// The extra field that pads a local header up to the alignment (PyTorch's id, "FB").
const PADDING_FIELD: u16 = 0x4246;
/// 1980-01-01, the earliest date a zip entry can hold.
const DOS_DATE: u16 = 0x21;

/// Archive bytes being written.
#[derive(Default)]
pub struct ZipWriter {
    out: Vec<u8>,
    central: Vec<u8>,
    entries: u16,
}

fn u16le(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn u32le(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

impl ZipWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the file `name` holding `data` (archives up to 4 GiB, 65,535 files).
    pub fn file(&mut self, name: &str, data: &[u8]) {
        let offset = self.out.len() as u32;
        let crc = crc32fast::hash(data);
        let size = data.len() as u32;
        let unpadded = self.out.len() + 30 + name.len() + 4;
        let padding = (ALIGN - unpadded % ALIGN) % ALIGN;
        let mut header = Vec::new();
        u32le(&mut header, 0x0403_4b50);
        u16le(&mut header, 20); // version needed to extract: 2.0
        u16le(&mut header, 0); // flags
        u16le(&mut header, 0); // stored
        u16le(&mut header, 0); // time
        u16le(&mut header, DOS_DATE);
        u32le(&mut header, crc);
        u32le(&mut header, size);
        u32le(&mut header, size);
        u16le(&mut header, name.len() as u16);
        u16le(&mut header, (4 + padding) as u16);
        header.extend_from_slice(name.as_bytes());
        u16le(&mut header, PADDING_FIELD);
        u16le(&mut header, padding as u16);
        header.resize(header.len() + padding, b'Z');
        self.out.extend_from_slice(&header);
        self.out.extend_from_slice(data);

        let c = &mut self.central;
        u32le(c, 0x0201_4b50);
        u16le(c, 20); // made by: 2.0
        u16le(c, 20);
        u16le(c, 0);
        u16le(c, 0);
        u16le(c, 0);
        u16le(c, DOS_DATE);
        u32le(c, crc);
        u32le(c, size);
        u32le(c, size);
        u16le(c, name.len() as u16);
        u16le(c, 0); // extra
        u16le(c, 0); // comment
        u16le(c, 0); // disk
        u16le(c, 0); // internal attributes
        u32le(c, 0); // external attributes
        u32le(c, offset);
        c.extend_from_slice(name.as_bytes());
        self.entries += 1;
    }

    /// The archive: the files, their central directory and its end record.
    pub fn finish(mut self) -> Vec<u8> {
        let central_at = self.out.len() as u32;
        let central_len = self.central.len() as u32;
        self.out.extend_from_slice(&self.central);
        let out = &mut self.out;
        u32le(out, 0x0605_4b50);
        u16le(out, 0);
        u16le(out, 0);
        u16le(out, self.entries);
        u16le(out, self.entries);
        u32le(out, central_len);
        u32le(out, central_at);
        u16le(out, 0);
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_stored_aligned_and_listed_in_the_central_directory() {
        let mut zip = ZipWriter::new();
        zip.file("a/x", b"hello");
        zip.file("a/yy", &[7u8; 100]);
        let bytes = zip.finish();
        // Each file's data starts on a 64-byte boundary, right after its header.
        let first = bytes.windows(5).position(|w| w == b"hello").unwrap();
        assert_eq!(first % ALIGN, 0);
        let second = bytes.windows(100).position(|w| w == [7u8; 100]).unwrap();
        assert_eq!(second % ALIGN, 0);
        // The end record counts two files and points at the central directory.
        let end = bytes.len() - 22;
        assert_eq!(&bytes[end..end + 4], &0x0605_4b50u32.to_le_bytes());
        assert_eq!(u16::from_le_bytes([bytes[end + 10], bytes[end + 11]]), 2);
        let at = u32::from_le_bytes(bytes[end + 16..end + 20].try_into().unwrap()) as usize;
        assert_eq!(&bytes[at..at + 4], &0x0201_4b50u32.to_le_bytes());
        // The central record's CRC is the data's.
        let crc = u32::from_le_bytes(bytes[at + 16..at + 20].try_into().unwrap());
        assert_eq!(crc, crc32fast::hash(b"hello"));
    }
}
