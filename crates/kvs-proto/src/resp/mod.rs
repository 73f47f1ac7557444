//! RESP, the Redis serialization protocol: parsing client commands and writing replies.
//!
//! The parser works in place on a connection's read buffer and allocates nothing: a command is a
//! list of byte ranges into that buffer. Every length it reads is bounded by [`RespLimits`].

mod parse;
mod reply;

pub use parse::{parse_command, Args, CommandParser, RespError, RespLimits};
pub use reply::{format_double, Protocol, Reply};
