//! Redis's numbered databases in one keyspace: a key of database `n` (1 to 255) is stored as the
//! key with a three-byte prefix, `FF DB n`; a key of database 0 is stored as it is.
//!
//! So the log, replication, anti-entropy, digests, export and check, which see only stored keys,
//! carry every database as they carry database 0, with no format of their own; and a store
//! written before databases existed is database 0 unchanged. The price is that a key of database
//! 0 may not itself begin with `FF DB` (it would read as another database's): the front ends
//! refuse such a key with an error naming the two bytes. A FLUSHDB is a flush record whose key
//! is the bare prefix of its database (`FF DB n`, database 0 included); FLUSHALL's key is empty.

use std::borrow::Cow;

/// The first two bytes of every stored key of a database other than 0.
pub const PREFIX: [u8; 2] = [0xFF, 0xDB];

/// How many databases a node can have (`--databases`, default 16, as in Redis).
pub const MAX_DATABASES: usize = 256;

/// The stored form of `key` in database `db`.
pub fn stored_key(db: u8, key: &[u8]) -> Cow<'_, [u8]> {
    if db == 0 {
        return Cow::Borrowed(key);
    }
    let mut stored = Vec::with_capacity(key.len() + 3);
    stored.extend_from_slice(&PREFIX);
    stored.push(db);
    stored.extend_from_slice(key);
    Cow::Owned(stored)
}

/// The database a stored key belongs to (an element's: its collection's).
pub fn database_of(stored: &[u8]) -> u8 {
    match stored {
        [0xFF, 0xDB, db, ..] => *db,
        [0xFF, 0xEE, ..] => crate::collection::split_element_key(stored).map_or(0, |(_, key, _)| database_of(key)),
        _ => 0,
    }
}

/// The key as its database's clients know it.
pub fn user_key(stored: &[u8]) -> &[u8] {
    match stored {
        [0xFF, 0xDB, _, rest @ ..] => rest,
        _ => stored,
    }
}

/// Whether a key given for database 0 would be taken for another database's, or for a
/// collection element's (see [`crate::collection`]): it is refused.
pub fn is_reserved(key: &[u8]) -> bool {
    key.starts_with(&PREFIX) || crate::collection::is_element_key(key)
}

/// The key of the flush record that clears database `db` (FLUSHDB).
pub fn flush_key(db: u8) -> [u8; 3] {
    [PREFIX[0], PREFIX[1], db]
}

/// Whether a flush record of key `flush` (empty: FLUSHALL) clears the stored key `stored`.
pub fn flush_covers(flush: &[u8], stored: &[u8]) -> bool {
    flush.is_empty() || database_of(flush) == database_of(stored)
}

/// Whether `key` is a flush record's key: empty (FLUSHALL) or a database's bare prefix.
pub fn is_flush_key(key: &[u8]) -> bool {
    key.is_empty() || (key.len() == 3 && key.starts_with(&PREFIX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_keys_name_their_database_and_database_0_is_unchanged() {
        assert_eq!(stored_key(0, b"k").as_ref(), b"k");
        let stored = stored_key(5, b"k");
        assert_eq!((database_of(&stored), user_key(&stored)), (5, &b"k"[..]));
        assert_eq!((database_of(b"k"), user_key(b"k")), (0, &b"k"[..]));
        assert_eq!(database_of(&stored_key(7, b"")), 7, "the empty key has a database too");
        assert!(is_reserved(&stored) && !is_reserved(b"\xFFk"));
        assert!(flush_covers(b"", &stored) && flush_covers(&flush_key(5), &stored));
        assert!(!flush_covers(&flush_key(0), &stored) && flush_covers(&flush_key(0), b"k"));
        assert!(is_flush_key(b"") && is_flush_key(&flush_key(0)) && !is_flush_key(b"k"));
    }
}
