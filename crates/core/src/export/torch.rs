//! A PyTorch state dict file, as `torch.save(module.state_dict(), path)` writes one: a zip
//! archive of a pickle (an `OrderedDict` of names to tensors, each rebuilt from a storage) and one
//! raw little-endian file per storage. `torch.load(path, weights_only=True)` reads it: the pickle
//! names only globals that its safe loader allows.

use super::zip::ZipWriter;

/// The values of one state-dict entry.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    F32(Vec<f32>),
    I64(Vec<i64>),
}

/// One entry: its name, shape and values (row-major).
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub name: String,
    pub dims: Vec<usize>,
    pub values: Values,
}

/// The file's bytes; the archive's folder is `folder` (PyTorch uses the file's stem).
pub fn state_dict_file(entries: &[Entry], folder: &str) -> Vec<u8> {
    let mut zip = ZipWriter::new();
    zip.file(&format!("{folder}/data.pkl"), &pickle(entries));
    zip.file(&format!("{folder}/byteorder"), b"little");
    for (i, e) in entries.iter().enumerate() {
        let bytes: Vec<u8> = match &e.values {
            Values::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Values::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        };
        zip.file(&format!("{folder}/data/{i}"), &bytes);
    }
    zip.file(&format!("{folder}/version"), b"3\n");
    zip.finish()
}

/// Pickle (protocol 2) of `OrderedDict([(name, _rebuild_tensor_v2(storage, 0, size, stride,
/// False, OrderedDict())), ...])`, storage `i` persisted as `("storage", FloatStorage, "i",
/// "cpu", numel)`.
fn pickle(entries: &[Entry]) -> Vec<u8> {
    let mut p = Pickle(vec![0x80, 2]);
    p.global("collections", "OrderedDict");
    p.op(b')');
    p.op(b'R');
    p.op(b'(');
    for (i, e) in entries.iter().enumerate() {
        p.string(&e.name);
        p.global("torch._utils", "_rebuild_tensor_v2");
        p.op(b'(');
        p.op(b'(');
        p.string("storage");
        let (storage, numel) = match &e.values {
            Values::F32(v) => ("FloatStorage", v.len()),
            Values::I64(v) => ("LongStorage", v.len()),
        };
        p.global("torch", storage);
        p.string(&i.to_string());
        p.string("cpu");
        p.int(numel);
        p.op(b't');
        p.op(b'Q');
        p.int(0);
        p.tuple(&e.dims);
        let mut stride = vec![1; e.dims.len()];
        for d in (0..e.dims.len().saturating_sub(1)).rev() {
            stride[d] = stride[d + 1] * e.dims[d + 1];
        }
        p.tuple(&stride);
        p.op(0x89);
        p.global("collections", "OrderedDict");
        p.op(b')');
        p.op(b'R');
        p.op(b't');
        p.op(b'R');
    }
    p.op(b'u');
    p.op(b'.');
    p.0
}

struct Pickle(Vec<u8>);

impl Pickle {
    fn op(&mut self, code: u8) {
        self.0.push(code);
    }

    fn global(&mut self, module: &str, name: &str) {
        self.0.push(b'c');
        self.0
            .extend_from_slice(format!("{module}\n{name}\n").as_bytes());
    }

    fn string(&mut self, s: &str) {
        self.0.push(b'X');
        self.0.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.0.extend_from_slice(s.as_bytes());
    }

    fn int(&mut self, v: usize) {
        match i32::try_from(v) {
            Ok(v) => {
                self.0.push(b'J');
                self.0.extend_from_slice(&v.to_le_bytes());
            }
            Err(_) => {
                // LONG1: a little-endian two's complement of 8 bytes.
                self.0.extend_from_slice(&[0x8a, 8]);
                self.0.extend_from_slice(&(v as i64).to_le_bytes());
            }
        }
    }

    fn tuple(&mut self, values: &[usize]) {
        self.op(b'(');
        for &v in values {
            self.int(v);
        }
        self.op(b't');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pickle_names_each_tensor_its_storage_shape_and_row_major_strides() {
        let entries = [Entry {
            name: "w".into(),
            dims: vec![2, 3],
            values: Values::F32(vec![0.0; 6]),
        }];
        let p = pickle(&entries);
        assert_eq!(&p[..2], &[0x80, 2]);
        assert_eq!(*p.last().unwrap(), b'.');
        let text = String::from_utf8_lossy(&p);
        for needle in [
            "collections\nOrderedDict\n",
            "torch._utils\n_rebuild_tensor_v2\n",
            "torch\nFloatStorage\n",
        ] {
            assert!(text.contains(needle), "{needle:?}");
        }
        // size (2, 3), stride (3, 1).
        let ints = |v: &[i32]| -> Vec<u8> {
            let mut out = vec![b'('];
            for x in v {
                out.push(b'J');
                out.extend_from_slice(&x.to_le_bytes());
            }
            out.push(b't');
            out
        };
        let size = ints(&[2, 3]);
        let stride = ints(&[3, 1]);
        assert!(p.windows(size.len()).any(|w| w == size));
        assert!(p.windows(stride.len()).any(|w| w == stride));
    }
}
