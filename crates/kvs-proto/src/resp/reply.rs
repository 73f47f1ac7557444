//! Writing RESP2/RESP3 replies straight into a connection's output buffer.

use bytes::{BufMut, BytesMut};

/// Which RESP dialect the client asked for (`HELLO 3` switches to RESP3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// The default.
    Resp2,
    /// After `HELLO 3`: real nulls and maps.
    Resp3,
}

/// A reply writer over an output buffer; pipelined replies accumulate and go out in one write.
pub struct Reply<'a> {
    out: &'a mut BytesMut,
    protocol: Protocol,
}

impl<'a> Reply<'a> {
    /// Writes into `out` in the given dialect.
    pub fn new(out: &'a mut BytesMut, protocol: Protocol) -> Self {
        Reply { out, protocol }
    }

    /// Switches dialect for the replies that follow (HELLO answers in the dialect it selects).
    pub fn set_protocol(&mut self, protocol: Protocol) {
        self.protocol = protocol;
    }

    /// The dialect in use.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    fn line(&mut self, marker: u8, body: &[u8]) {
        self.out.reserve(body.len() + 3);
        self.out.put_u8(marker);
        self.out.put_slice(body);
        self.out.put_slice(b"\r\n");
    }

    fn number_line(&mut self, marker: u8, n: i64) {
        let mut digits = itoa::Buffer::new();
        self.line(marker, digits.format(n).as_bytes());
    }

    /// `+OK`-style status.
    pub fn simple(&mut self, text: &str) {
        self.line(b'+', text.as_bytes());
    }

    /// `-ERR ...`; `text` must carry its own prefix (`ERR`, `WRONGTYPE`, ...).
    pub fn error(&mut self, text: &str) {
        // A CR or LF inside would end the line early and desynchronize the client.
        let clean: String = text.chars().map(|c| if c == '\r' || c == '\n' { ' ' } else { c }).collect();
        self.line(b'-', clean.as_bytes());
    }

    /// `:n`.
    pub fn integer(&mut self, n: i64) {
        self.number_line(b':', n);
    }

    /// A floating-point number: a bulk string in RESP2 (as Redis prints a score), a double in
    /// RESP3.
    pub fn double(&mut self, value: f64) {
        let text = format_double(value);
        match self.protocol {
            Protocol::Resp2 => self.bulk(text.as_bytes()),
            Protocol::Resp3 => self.line(b',', text.as_bytes()),
        }
    }

    /// A bulk string.
    pub fn bulk(&mut self, data: &[u8]) {
        self.number_line(b'$', data.len() as i64);
        self.out.reserve(data.len() + 2);
        self.out.put_slice(data);
        self.out.put_slice(b"\r\n");
    }

    /// A missing value: `$-1` in RESP2, `_` in RESP3.
    pub fn null(&mut self) {
        match self.protocol {
            Protocol::Resp2 => self.out.put_slice(b"$-1\r\n"),
            Protocol::Resp3 => self.out.put_slice(b"_\r\n"),
        }
    }

    /// A null array (what EXEC answers when a watched key changed).
    pub fn null_array(&mut self) {
        match self.protocol {
            Protocol::Resp2 => self.out.put_slice(b"*-1\r\n"),
            Protocol::Resp3 => self.out.put_slice(b"_\r\n"),
        }
    }

    /// A bulk string or a null.
    pub fn optional_bulk(&mut self, data: Option<&[u8]>) {
        match data {
            Some(data) => self.bulk(data),
            None => self.null(),
        }
    }

    /// The header of an array of `n` elements, which the caller writes next.
    pub fn array(&mut self, n: usize) {
        self.number_line(b'*', n as i64);
    }

    /// The header of a set of `n` elements (an array in RESP2).
    pub fn set(&mut self, n: usize) {
        match self.protocol {
            Protocol::Resp2 => self.number_line(b'*', n as i64),
            Protocol::Resp3 => self.number_line(b'~', n as i64),
        }
    }

    /// The header of an out-of-band push of `n` elements (a pub/sub message): `>n` in RESP3,
    /// an array in RESP2, where a subscribed connection reads nothing else.
    pub fn push(&mut self, n: usize) {
        match self.protocol {
            Protocol::Resp2 => self.number_line(b'*', n as i64),
            Protocol::Resp3 => self.number_line(b'>', n as i64),
        }
    }

    /// The header of a map of `n` pairs (a flat array of 2n elements in RESP2).
    pub fn map(&mut self, n: usize) {
        match self.protocol {
            Protocol::Resp2 => self.number_line(b'*', 2 * n as i64),
            Protocol::Resp3 => self.number_line(b'%', n as i64),
        }
    }
}

/// A double as Redis prints one: `inf`, `-inf`, or the shortest decimal that reads back exactly.
pub fn format_double(value: f64) -> String {
    if value.is_infinite() {
        return if value > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if value == 0.0 {
        return "0".into();
    }
    format!("{value}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_each_type() {
        let mut out = BytesMut::new();
        let mut r = Reply::new(&mut out, Protocol::Resp2);
        r.simple("OK");
        r.error("ERR bad\r\nthing");
        r.integer(-3);
        r.bulk(b"hi");
        r.null();
        r.map(1);
        assert_eq!(&out[..], b"+OK\r\n-ERR bad  thing\r\n:-3\r\n$2\r\nhi\r\n$-1\r\n*2\r\n");
        let mut out = BytesMut::new();
        let mut r = Reply::new(&mut out, Protocol::Resp3);
        r.null();
        r.map(2);
        assert_eq!(&out[..], b"_\r\n%2\r\n");
    }
}
