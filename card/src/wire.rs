//! Fixed-layout binary encoding of the purse's messages: big-endian integers and
//! fixed-size byte strings, read with bounds checks so no input can panic.

use crate::Error;

/// Appends fields to a byte vector.
#[derive(Debug, Default, Clone)]
pub struct Writer(Vec<u8>);

impl Writer {
    /// An empty writer with room for `n` bytes.
    pub fn with_capacity(n: usize) -> Self {
        Writer(Vec::with_capacity(n))
    }

    /// Appends one byte.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }

    /// Appends a big-endian `u32`.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Appends a big-endian `u64`.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Appends raw bytes.
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.0.extend_from_slice(v);
        self
    }

    /// The bytes written.
    pub fn finish(&mut self) -> Vec<u8> {
        core::mem::take(&mut self.0)
    }
}

/// Reads fields from a byte slice; every read is bounds-checked.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if self.buf.len() < n {
            return Err(Error::Malformed("message too short"));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let s = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.array::<1>()?[0])
    }

    /// A big-endian `u32`.
    pub fn u32(&mut self) -> Result<u32, Error> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// A big-endian `u64`.
    pub fn u64(&mut self) -> Result<u64, Error> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// The bytes not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.buf)
    }

    /// Fails unless every byte was read (trailing bytes are a malformed message).
    pub fn finish(self) -> Result<(), Error> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(Error::Malformed("trailing bytes"))
        }
    }
}

/// Writes a fixed-capacity list of non-zero numbers: `count (1) || cap × u32`, the
/// unused slots zero. A list longer than `cap` is cut to `cap` (callers build lists of
/// at most `cap`).
pub fn write_id_list(w: &mut Writer, ids: &[u32], cap: usize) {
    let n = ids.len().min(cap);
    w.u8(u8::try_from(n).unwrap_or(u8::MAX));
    for id in ids
        .iter()
        .take(n)
        .copied()
        .chain(core::iter::repeat(0))
        .take(cap)
    {
        w.u32(id);
    }
}

/// Reads what [`write_id_list`] wrote, strictly: a count within `cap`, no zero among
/// the first `count` numbers, zero padding after them.
pub fn read_id_list(r: &mut Reader<'_>, cap: usize) -> Result<Vec<u32>, Error> {
    let n = usize::from(r.u8()?);
    if n > cap {
        return Err(Error::Malformed("too many ids"));
    }
    let mut ids = Vec::with_capacity(n);
    for i in 0..cap {
        let id = r.u32()?;
        match (i < n, id) {
            (true, 0) => return Err(Error::Malformed("id 0 in a list")),
            (true, id) => ids.push(id),
            (false, 0) => {}
            (false, _) => return Err(Error::Malformed("non-zero padding")),
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bounds() {
        let bytes = Writer::default()
            .u8(1)
            .u32(0x0203_0405)
            .u64(6)
            .bytes(b"xy")
            .finish();
        let mut r = Reader::new(&bytes);
        assert_eq!(r.u8().unwrap(), 1);
        assert_eq!(r.u32().unwrap(), 0x0203_0405);
        assert_eq!(r.u64().unwrap(), 6);
        assert!(r.clone().u32().is_err());
        assert_eq!(r.take(2).unwrap(), b"xy");
        r.finish().unwrap();
        let mut r = Reader::new(&[1, 2]);
        assert!(r.u32().is_err());
        assert!(Reader::new(&[1]).finish().is_err());
    }
}
