//! Typed messages over a length-delimited stream.

use crate::encoding;
use crate::error::ProtoError;
use bytes::{Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io;
use std::task::Poll;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_util::codec::{Framed, LengthDelimitedCodec};

/// A framed connection: each frame is a 4-byte big-endian length then a bincode body.
pub struct Connection<S> {
    framed: Framed<S, LengthDelimitedCodec>,
    max_frame_bytes: usize,
    /// Size of the last frame received, header included, for traffic counters.
    last_received_bytes: usize,
}

/// Room made in the read buffer for the next read when frames are handed back.
const READ_ROOM_BYTES: usize = 8 * 1024;

/// Bytes of the length prefix before every frame body.
const HEADER_BYTES: usize = 4;

/// Queued frames are written out before another is queued once they reach this size, so a
/// stream of messages goes out in large writes without the buffer growing without bound.
const WRITE_OUT_AT_BYTES: usize = 64 * 1024;

/// A buffer grown past this by one large frame (a peer's batch, a big value) is let go once it
/// is empty, rather than held for the connection's life: a node keeps two per connection, and a
/// few megabytes per peer was a tenth of a million-key node's growth in memory.
const KEEP_BUFFER_BYTES: usize = 4 * WRITE_OUT_AT_BYTES;

/// Encodes `message` as one frame (length prefix, then body) at the end of `buffer`; returns the
/// frame's size. For a writer that shares a connection's socket without its `Connection`.
pub fn frame_into<T: Serialize>(message: &T, buffer: &mut BytesMut) -> Result<usize, ProtoError> {
    let start = buffer.len();
    buffer.extend_from_slice(&[0; HEADER_BYTES]);
    let body = encoding::encode_into(message, buffer)?;
    buffer[start..start + HEADER_BYTES].copy_from_slice(&(body as u32).to_be_bytes());
    Ok(body + HEADER_BYTES)
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Wraps a stream; frames longer than `max_frame_bytes` are refused in both directions.
    pub fn new(stream: S, max_frame_bytes: usize) -> Self {
        let codec = LengthDelimitedCodec::builder().max_frame_length(max_frame_bytes).new_codec();
        Connection { framed: Framed::new(stream, codec), max_frame_bytes, last_received_bytes: 0 }
    }

    /// Encodes and sends one message, flushing it to the socket; returns the frame's size.
    pub async fn send<T: Serialize>(&mut self, message: &T) -> Result<usize, ProtoError> {
        let len = self.feed(message).await?;
        self.flush().await?;
        Ok(len)
    }

    /// Queues one message without flushing (call [`Connection::flush`] to write a batch at once),
    /// writing out what is queued first once that is large; returns the frame's size.
    pub async fn feed<T: Serialize>(&mut self, message: &T) -> Result<usize, ProtoError> {
        if self.queued_bytes() >= WRITE_OUT_AT_BYTES {
            self.flush().await?;
        }
        self.queue(message)
    }

    /// Encodes one message as a frame straight into the write buffer (no copy in between, no
    /// waiting); returns the frame's size. What is queued leaves on the next flush.
    pub fn queue<T: Serialize>(&mut self, message: &T) -> Result<usize, ProtoError> {
        let buffer = self.framed.write_buffer_mut();
        let start = buffer.len();
        match frame_into(message, buffer) {
            Ok(frame) if frame - HEADER_BYTES <= self.max_frame_bytes => Ok(frame),
            outcome => {
                buffer.truncate(start);
                Err(outcome.err().unwrap_or(ProtoError::FrameTooLarge { max: self.max_frame_bytes }))
            }
        }
    }

    /// Queues bytes already framed: the rest of a frame another writer of the same socket began.
    /// They leave on the next flush, before anything queued after them.
    pub fn queue_bytes(&mut self, bytes: &[u8]) {
        self.framed.write_buffer_mut().extend_from_slice(bytes);
    }

    /// Bytes queued and not yet written.
    pub fn queued_bytes(&self) -> usize {
        self.framed.write_buffer().len()
    }

    /// Writes everything queued, with plain writes of the whole buffer (the framed sink would
    /// use `writev`, which costs the kernel more for the one slice there is). Not cancel safe: a
    /// connection whose flush was abandoned half way must be closed, as every caller does.
    pub async fn flush(&mut self) -> Result<(), ProtoError> {
        let mut queued = std::mem::take(self.framed.write_buffer_mut());
        let written = self.framed.get_mut().write_all(&queued).await;
        if queued.capacity() <= KEEP_BUFFER_BYTES {
            queued.clear();
            *self.framed.write_buffer_mut() = queued;
        }
        written.map_err(|e| self.map_io(e))?;
        self.framed.get_mut().flush().await.map_err(|e| self.map_io(e))
    }

    /// Receives one message; `Ok(None)` means the peer closed cleanly between frames.
    pub async fn recv<T: DeserializeOwned>(&mut self) -> Result<Option<T>, ProtoError> {
        match self.recv_frame().await? {
            None => Ok(None),
            Some(body) => encoding::decode(&body).map(Some),
        }
    }

    /// Receives one frame's body undecoded, to decode it borrowing from the frame
    /// ([`encoding::decode_borrowed`]); `Ok(None)` means the peer closed cleanly between frames.
    pub async fn recv_frame(&mut self) -> Result<Option<BytesMut>, ProtoError> {
        match self.framed.next().await {
            None => Ok(None),
            Some(Ok(body)) => {
                self.last_received_bytes = body.len() + HEADER_BYTES;
                let unread = self.framed.read_buffer_mut();
                if unread.is_empty() && unread.capacity() > KEEP_BUFFER_BYTES {
                    // The frame keeps the bytes it needs; the buffer's share of them goes.
                    *unread = BytesMut::new();
                }
                Ok(Some(body))
            }
            Some(Err(e)) => Err(self.map_io(e)),
        }
    }

    /// Sends every request and receives one response per request, in order, writing and reading
    /// at once: a long pipeline never stalls with both sides' socket buffers full of data the
    /// other is not reading, whatever their sizes.
    pub async fn exchange<Req: Serialize, Resp: DeserializeOwned>(
        &mut self,
        requests: &[Req],
    ) -> Result<Vec<Resp>, ProtoError> {
        for request in requests {
            self.queue(request)?;
        }
        let mut flushed = false;
        let mut responses = Vec::with_capacity(requests.len());
        std::future::poll_fn(|cx| {
            let framed = &mut self.framed;
            // Write as far as the socket takes; a full socket leaves us waiting to write too.
            if !flushed {
                match SinkExt::<Bytes>::poll_flush_unpin(framed, cx) {
                    Poll::Ready(Ok(())) => flushed = true,
                    Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                    Poll::Pending => {}
                }
            }
            while responses.len() < requests.len() {
                match framed.poll_next_unpin(cx) {
                    Poll::Ready(Some(Ok(body))) => responses.push(body),
                    Poll::Ready(Some(Err(error))) => return Poll::Ready(Err(error)),
                    Poll::Ready(None) => {
                        return Poll::Ready(Err(io::Error::from(io::ErrorKind::UnexpectedEof)));
                    }
                    Poll::Pending => return Poll::Pending,
                }
            }
            if !flushed {
                return Poll::Pending;
            }
            Poll::Ready(Ok(()))
        })
        .await
        .map_err(|e| self.map_io(e))?;
        responses.iter().map(|body| encoding::decode(body)).collect()
    }

    /// Size of the last frame [`Connection::recv`] returned, length prefix included.
    pub fn last_received_bytes(&self) -> usize {
        self.last_received_bytes
    }

    /// Takes every byte already read and not yet returned as a frame, to answer the whole frames
    /// among them before reading again (a pipelining client's requests); hand what is left back
    /// with [`Connection::give_back`] before receiving again. One split of the buffer a pass,
    /// where [`Connection::recv_frame`] splits and frees once a frame.
    pub fn take_buffered(&mut self) -> BufferedFrames {
        let bytes = std::mem::take(self.framed.read_buffer_mut());
        BufferedFrames { bytes, at: 0, max_frame_bytes: self.max_frame_bytes }
    }

    /// Puts back what [`Connection::take_buffered`] took and no frame used.
    pub fn give_back(&mut self, frames: BufferedFrames) {
        let mut rest = frames.bytes;
        bytes::Buf::advance(&mut rest, frames.at);
        let unread = self.framed.read_buffer_mut();
        rest.unsplit(std::mem::take(unread));
        if rest.is_empty() && rest.capacity() > KEEP_BUFFER_BYTES {
            rest = BytesMut::new();
        }
        // The framed reader only asks for one byte of room before it reads: a buffer consumed
        // from the front would shrink its reads to nothing. Room is taken back from the front
        // (no allocation once the frames taken from it are dropped).
        rest.reserve(READ_ROOM_BYTES);
        *unread = rest;
    }

    /// The wrapped stream, e.g. to read its peer address.
    pub fn get_ref(&self) -> &S {
        self.framed.get_ref()
    }

    fn map_io(&self, error: io::Error) -> ProtoError {
        let too_long = error.get_ref().is_some_and(|inner| inner.is::<tokio_util::codec::LengthDelimitedCodecError>());
        if too_long {
            ProtoError::FrameTooLarge { max: self.max_frame_bytes }
        } else if error.kind() == io::ErrorKind::UnexpectedEof {
            ProtoError::Truncated
        } else {
            ProtoError::Io(error)
        }
    }
}

/// Frames a connection had already read, taken out of its buffer at once (see
/// [`Connection::take_buffered`]).
pub struct BufferedFrames {
    bytes: BytesMut,
    /// Where the next frame's length prefix begins.
    at: usize,
    max_frame_bytes: usize,
}

impl BufferedFrames {
    /// The next whole frame's body; `None` once only part of one, or nothing, is left. A frame
    /// longer than the connection's bound is an error, as it is to [`Connection::recv_frame`].
    pub fn next_body(&mut self) -> Option<Result<&[u8], ProtoError>> {
        let start = self.at + HEADER_BYTES;
        let header: [u8; HEADER_BYTES] = self.bytes.get(self.at..start)?.try_into().ok()?;
        let len = u32::from_be_bytes(header) as usize;
        if len > self.max_frame_bytes {
            return Some(Err(ProtoError::FrameTooLarge { max: self.max_frame_bytes }));
        }
        let end = start.checked_add(len).filter(|&end| end <= self.bytes.len())?;
        self.at = end;
        Some(Ok(&self.bytes[start..end]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(body: &[u8]) -> Vec<u8> {
        let mut bytes = (body.len() as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(body);
        bytes
    }

    #[tokio::test]
    async fn buffered_frames_are_served_whole_and_the_part_left_is_read_on() {
        let (mut writer, reader) = tokio::io::duplex(1024);
        let mut conn = Connection::new(reader, 64);
        let fourth = framed(b"fourth");
        let mut sent = [framed(b"first"), framed(b"second"), framed(b"third")].concat();
        sent.extend_from_slice(&fourth[..6]);
        writer.write_all(&sent).await.unwrap();
        assert_eq!(&conn.recv_frame().await.unwrap().unwrap()[..], b"first");
        let mut frames = conn.take_buffered();
        assert_eq!(frames.next_body().unwrap().unwrap(), b"second");
        assert_eq!(frames.next_body().unwrap().unwrap(), b"third");
        assert!(frames.next_body().is_none(), "half a frame is not one");
        conn.give_back(frames);
        writer.write_all(&fourth[6..]).await.unwrap();
        assert_eq!(&conn.recv_frame().await.unwrap().unwrap()[..], b"fourth");
    }

    #[tokio::test]
    async fn a_buffered_frame_over_the_bound_is_refused() {
        let (mut writer, reader) = tokio::io::duplex(1024);
        let mut conn = Connection::new(reader, 8);
        writer.write_all(&[framed(b"ok"), framed(b"far too long")].concat()).await.unwrap();
        assert_eq!(&conn.recv_frame().await.unwrap().unwrap()[..], b"ok");
        let mut frames = conn.take_buffered();
        assert!(matches!(frames.next_body(), Some(Err(ProtoError::FrameTooLarge { max: 8 }))));
    }
}
