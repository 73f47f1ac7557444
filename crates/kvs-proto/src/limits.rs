//! Size bounds every decoder enforces, so no length read off the wire is trusted.

/// Bounds on what a connection accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest frame body in bytes; longer frames close the connection.
    pub max_frame_bytes: usize,
    /// Largest key in bytes.
    pub max_key_bytes: usize,
    /// Largest value in bytes.
    pub max_value_bytes: usize,
}

impl Limits {
    /// The default frame bound: room for the largest value plus framing overhead.
    pub const DEFAULT_MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;
    /// The default key bound (Redis allows more, but nobody needs a key this big).
    pub const DEFAULT_MAX_KEY_BYTES: usize = 64 * 1024;
    /// The default value bound.
    pub const DEFAULT_MAX_VALUE_BYTES: usize = 8 * 1024 * 1024;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_bytes: Self::DEFAULT_MAX_FRAME_BYTES,
            max_key_bytes: Self::DEFAULT_MAX_KEY_BYTES,
            max_value_bytes: Self::DEFAULT_MAX_VALUE_BYTES,
        }
    }
}
