//! Bytes on the Redis port: commands parsed one after another from one buffer, as a session does.
//! Nothing may panic; every command consumes bytes it was given and its arguments are no longer
//! than them.
#![no_main]

use kvs_proto::resp::{parse_command, RespLimits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = RespLimits { max_args: 64, max_bulk: 4096, max_inline: 256 };
    let mut args = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        match parse_command(&data[pos..], &limits, &mut args) {
            Ok(Some(consumed)) => {
                assert!(consumed > 0 && pos + consumed <= data.len(), "consumed {consumed} at {pos}");
                assert!(args.len() <= limits.max_args);
                let bytes: usize = args.iter().map(Vec::len).sum();
                assert!(bytes <= consumed, "{bytes} bytes of arguments from {consumed}");
                pos += consumed;
            }
            Ok(None) | Err(_) => break,
        }
    }
});
