//! Errors on the wire.

use thiserror::Error;

/// Everything that can go wrong reading or writing frames.
#[derive(Debug, Error)]
pub enum ProtoError {
    /// The socket failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// A frame's length prefix exceeded the bound.
    #[error("frame exceeds the limit of {max} bytes")]
    FrameTooLarge {
        /// The bound that was exceeded.
        max: usize,
    },
    /// A frame's body is not a valid message.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// A message could not be encoded.
    #[error("cannot encode message: {0}")]
    Encode(String),
    /// The stream ended in the middle of a frame.
    #[error("connection closed mid-frame")]
    Truncated,
    /// The other side's hello or proof was not acceptable (the reason says why).
    #[error("{0}")]
    Refused(String),
    /// The other side refused our hello with this reply.
    #[error("refused by the other side: {0}")]
    Rejected(crate::ErrorReply),
}

impl ProtoError {
    /// The error frame to send before closing, when the peer can still read one.
    pub fn reply(&self) -> Option<crate::ErrorReply> {
        use crate::ErrorCode;
        let code = match self {
            ProtoError::FrameTooLarge { .. } => ErrorCode::FrameTooLarge,
            ProtoError::Malformed(_) => ErrorCode::MalformedFrame,
            ProtoError::Io(_)
            | ProtoError::Encode(_)
            | ProtoError::Truncated
            | ProtoError::Refused(_)
            | ProtoError::Rejected(_) => return None,
        };
        Some(crate::ErrorReply::new(code, self.to_string()))
    }
}
