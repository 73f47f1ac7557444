//! Typed messages over a length-delimited stream.

use crate::encoding;
use crate::error::ProtoError;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io;
use std::task::Poll;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{Framed, LengthDelimitedCodec};

/// A framed connection: each frame is a 4-byte big-endian length then a bincode body.
pub struct Connection<S> {
    framed: Framed<S, LengthDelimitedCodec>,
    max_frame_bytes: usize,
    /// Size of the last frame received, header included, for traffic counters.
    last_received_bytes: usize,
}

/// Bytes of the length prefix before every frame body.
const HEADER_BYTES: usize = 4;

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Wraps a stream; frames longer than `max_frame_bytes` are refused in both directions.
    pub fn new(stream: S, max_frame_bytes: usize) -> Self {
        let codec = LengthDelimitedCodec::builder().max_frame_length(max_frame_bytes).new_codec();
        Connection { framed: Framed::new(stream, codec), max_frame_bytes, last_received_bytes: 0 }
    }

    /// Encodes and sends one message, flushing it to the socket; returns the frame's size.
    pub async fn send<T: Serialize>(&mut self, message: &T) -> Result<usize, ProtoError> {
        let body = self.encode(message)?;
        let len = body.len() + HEADER_BYTES;
        self.framed.send(body).await.map_err(|e| self.map_io(e))?;
        Ok(len)
    }

    /// Queues one message without flushing (call [`Connection::flush`] to write a batch at once);
    /// returns the frame's size.
    pub async fn feed<T: Serialize>(&mut self, message: &T) -> Result<usize, ProtoError> {
        let body = self.encode(message)?;
        let len = body.len() + HEADER_BYTES;
        self.framed.feed(body).await.map_err(|e| self.map_io(e))?;
        Ok(len)
    }

    /// Writes everything queued by [`Connection::feed`].
    pub async fn flush(&mut self) -> Result<(), ProtoError> {
        SinkExt::<Bytes>::flush(&mut self.framed).await.map_err(|e| self.map_io(e))
    }

    /// Receives one message; `Ok(None)` means the peer closed cleanly between frames.
    pub async fn recv<T: DeserializeOwned>(&mut self) -> Result<Option<T>, ProtoError> {
        match self.framed.next().await {
            None => Ok(None),
            Some(Ok(body)) => {
                self.last_received_bytes = body.len() + HEADER_BYTES;
                encoding::decode(&body).map(Some)
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
        let mut bodies =
            requests.iter().map(|request| self.encode(request)).collect::<Result<Vec<_>, _>>()?.into_iter();
        let mut pending: Option<Bytes> = None;
        let mut flushed = false;
        let mut responses = Vec::with_capacity(requests.len());
        std::future::poll_fn(|cx| {
            let framed = &mut self.framed;
            // Write as far as the socket takes; a full socket leaves us waiting to write too.
            while !flushed {
                pending = pending.take().or_else(|| bodies.next());
                let Some(body) = pending.take() else {
                    match SinkExt::<Bytes>::poll_flush_unpin(framed, cx) {
                        Poll::Ready(Ok(())) => flushed = true,
                        Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                        Poll::Pending => {}
                    }
                    break;
                };
                match SinkExt::<Bytes>::poll_ready_unpin(framed, cx) {
                    Poll::Ready(Ok(())) => framed.start_send_unpin(body)?,
                    Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                    Poll::Pending => {
                        pending = Some(body);
                        break;
                    }
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

    /// Whether a whole frame is already buffered, so the next [`Connection::recv`] returns
    /// without reading the socket: a server answering pipelined requests holds its replies back
    /// until none is, and writes them all at once.
    pub fn has_buffered_frame(&self) -> bool {
        let buffered = self.framed.read_buffer();
        buffered.len() >= HEADER_BYTES && {
            let len = u32::from_be_bytes([buffered[0], buffered[1], buffered[2], buffered[3]]) as usize;
            buffered.len() - HEADER_BYTES >= len
        }
    }

    /// The wrapped stream, e.g. to read its peer address.
    pub fn get_ref(&self) -> &S {
        self.framed.get_ref()
    }

    fn encode<T: Serialize>(&self, message: &T) -> Result<Bytes, ProtoError> {
        let body = encoding::encode(message)?;
        if body.len() > self.max_frame_bytes {
            return Err(ProtoError::FrameTooLarge { max: self.max_frame_bytes });
        }
        Ok(Bytes::from(body))
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
