//! Typed messages over a length-delimited stream.

use crate::encoding;
use crate::error::ProtoError;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io;
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

    /// Size of the last frame [`Connection::recv`] returned, length prefix included.
    pub fn last_received_bytes(&self) -> usize {
        self.last_received_bytes
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
