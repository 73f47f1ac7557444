//! Loading a backup's collection elements: a collection is backed up as one entry per element,
//! at the element's stored key (see `kvs-client`'s `backup`), and loaded back through the same
//! local writes as HSET, SADD and ZADD make.

use crate::error::WriteRefused;
use crate::shell::Shell;
use kvs_proto::features::COLLECTIONS;
use kvs_proto::{BackupEntry, CollectionType, ErrorCode, ErrorReply};
use kvs_store::local::{Decision, ForAdd, Holds};
use kvs_store::log::Room;

/// A backup entry's key within the bounds: a key, or an element's key whose collection key and
/// element each are.
pub(crate) fn check_entry_key(shell: &Shell, key: &[u8]) -> Result<(), ErrorReply> {
    let max = shell.config.limits.max_key_bytes;
    let too_long = match kvs_store::collection::split_element_key(key) {
        // The collection's stored key may carry a database's three-byte prefix.
        Some((_, collection, element)) => collection.len() > max + 3 || element.len() > max,
        None => key.len() > max,
    };
    if too_long {
        return Err(ErrorReply::new(ErrorCode::KeyTooLarge, format!("key of {} bytes exceeds {max}", key.len())));
    }
    Ok(())
}

fn refused(error: WriteRefused) -> ErrorReply {
    match error {
        error @ WriteRefused::Log(_) => ErrorReply::new(ErrorCode::LogFailed, error.to_string()),
        error @ WriteRefused::ClockSkew(_) => ErrorReply::new(ErrorCode::ClockSkew, error.to_string()),
    }
}

/// Writes one element of a backup: the collection's header if the key holds none of its type,
/// the element with its value, and the collection's deadline.
pub(crate) fn load_element(
    shell: &Shell,
    (of, collection, element): (CollectionType, &[u8], &[u8]),
    entry: &BackupEntry<&[u8]>,
    room: &mut Room,
) -> Result<(), ErrorReply> {
    if !shell.core.is_open(COLLECTIONS) {
        let message = COLLECTIONS.closed_message("a backup of a collection", shell.core.cluster_version());
        return Err(ErrorReply::new(ErrorCode::BadRequest, message));
    }
    // Never inside a Redis client's transaction (see `redis::transaction`).
    let _shared = shell.core.isolation.read().unwrap_or_else(|p| p.into_inner());
    let now_ms = shell.wall_ms();
    let (_, made) = shell
        .update(collection, now_ms, room, None, |local| match local.header_for_add(of) {
            Err(wrong) => Decision::Keep(Err(wrong)),
            Ok(ForAdd::Made(record, _)) => Decision::Write(record, Ok(())),
            Ok(ForAdd::Held(_)) => Decision::Keep(Ok(())),
        })
        .map_err(refused)?;
    made.map_err(|wrong| ErrorReply::new(ErrorCode::BadRequest, wrong.to_string()))?;
    let value = bytes::Bytes::copy_from_slice(entry.value);
    let at = kvs_store::collection::element_key(of, collection, element);
    shell.update(&at, now_ms, room, None, |local| Decision::Write(local.element_added(value), ())).map_err(refused)?;
    if let Some(deadline) = entry.expires_at_ms {
        shell
            .update(collection, now_ms, room, None, |local| match local.holds() {
                Holds::Collection(found) if found.deadline_ms != Some(deadline) => {
                    Decision::Write(local.collection_deadline(&found, Some(deadline)), ())
                }
                _ => Decision::Keep(()),
            })
            .map_err(refused)?;
    }
    Ok(())
}
