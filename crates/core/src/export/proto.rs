//! The few protobuf encodings an ONNX file needs: varints, 32-bit floats and length-delimited
//! fields, written into a growing buffer.

/// One protobuf message being written.
#[derive(Default)]
pub struct Message(Vec<u8>);

impl Message {
    pub fn new() -> Self {
        Self::default()
    }

    fn key(&mut self, field: u32, wire: u8) {
        self.varint(((field as u64) << 3) | wire as u64);
    }

    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    /// An `int64`/`int32`/enum field (negative values take ten bytes, as protobuf says).
    pub fn int(&mut self, field: u32, v: i64) -> &mut Self {
        self.key(field, 0);
        self.varint(v as u64);
        self
    }

    pub fn float(&mut self, field: u32, v: f32) -> &mut Self {
        self.key(field, 5);
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn bytes(&mut self, field: u32, v: &[u8]) -> &mut Self {
        self.key(field, 2);
        self.varint(v.len() as u64);
        self.0.extend_from_slice(v);
        self
    }

    pub fn string(&mut self, field: u32, v: &str) -> &mut Self {
        self.bytes(field, v.as_bytes())
    }

    pub fn message(&mut self, field: u32, v: &Message) -> &mut Self {
        self.bytes(field, &v.0)
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_encoded_as_protobuf_writes_them() {
        let mut inner = Message::new();
        inner.int(1, 150);
        let mut m = Message::new();
        m.int(1, 1)
            .string(2, "ab")
            .message(3, &inner)
            .float(4, 1.0)
            .int(5, -1);
        let mut want = vec![
            0x08, 0x01, 0x12, 0x02, b'a', b'b', 0x1a, 0x03, 0x08, 0x96, 0x01,
        ];
        want.extend([0x25, 0x00, 0x00, 0x80, 0x3f, 0x28]);
        want.extend([0xff; 9]);
        want.push(0x01);
        assert_eq!(m.into_bytes(), want);
    }
}
