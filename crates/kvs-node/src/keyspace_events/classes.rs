//! `notify-keyspace-events`: which classes of events a node publishes, as Redis spells them.

use std::sync::atomic::{AtomicU32, Ordering};

/// `K`: events on `__keyspace@<db>__:<key>`, the event as the message.
pub const KEYSPACE: u32 = 1 << 0;
/// `E`: events on `__keyevent@<db>__:<event>`, the key as the message.
pub const KEYEVENT: u32 = 1 << 1;
/// `g`: generic commands (DEL, EXPIRE, RENAME, …).
pub const GENERIC: u32 = 1 << 2;
/// `$`: strings.
pub const STRING: u32 = 1 << 3;
/// `l`: lists.
pub const LIST: u32 = 1 << 4;
/// `s`: sets.
pub const SET: u32 = 1 << 5;
/// `h`: hashes.
pub const HASH: u32 = 1 << 6;
/// `z`: sorted sets.
pub const ZSET: u32 = 1 << 7;
/// `x`: keys reclaimed after their deadline.
pub const EXPIRED: u32 = 1 << 8;
/// `e`: keys evicted under maxmemory.
pub const EVICTED: u32 = 1 << 9;
/// `t`: streams.
pub const STREAM: u32 = 1 << 10;
/// `m`: key misses (not part of `A`).
pub const KEY_MISS: u32 = 1 << 11;
/// `d`: module events.
pub const MODULE: u32 = 1 << 13;
/// `n`: new keys (not part of `A`).
pub const NEW: u32 = 1 << 14;
/// `A`: every class but `m` and `n`.
pub const ALL: u32 = GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

/// Each class letter and its bit, in the order Redis prints them.
const LETTERS: [(char, u32); 10] = [
    ('g', GENERIC),
    ('$', STRING),
    ('l', LIST),
    ('s', SET),
    ('h', HASH),
    ('z', ZSET),
    ('x', EXPIRED),
    ('e', EVICTED),
    ('t', STREAM),
    ('d', MODULE),
];

/// The classes a `notify-keyspace-events` string names; `None` for a letter Redis does not know.
pub fn parse(text: &str) -> Option<u32> {
    let mut flags = 0;
    for c in text.chars() {
        flags |= match c {
            'A' => ALL,
            'K' => KEYSPACE,
            'E' => KEYEVENT,
            'm' => KEY_MISS,
            'n' => NEW,
            c => LETTERS.iter().find(|(letter, _)| *letter == c)?.1,
        };
    }
    Some(flags)
}

/// The string CONFIG GET shows for `flags`: `A` for every class, then `K`, `E`, `m`, `n`.
pub fn format(flags: u32) -> String {
    let mut text = String::new();
    if flags & ALL == ALL {
        text.push('A');
    } else {
        text.extend(LETTERS.iter().filter(|(_, bit)| flags & bit != 0).map(|(letter, _)| letter));
    }
    for (letter, bit) in [('K', KEYSPACE), ('E', KEYEVENT), ('m', KEY_MISS), ('n', NEW)] {
        if flags & bit != 0 {
            text.push(letter);
        }
    }
    text
}

/// A node's setting, read on every change it applies (one atomic load while it is off).
#[derive(Debug, Default)]
pub struct Classes(AtomicU32);

impl Classes {
    /// The classes now set.
    pub fn get(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }

    /// Sets them.
    pub fn set(&self, flags: u32) {
        self.0.store(flags, Ordering::Relaxed)
    }

    /// Whether an event of `class` is published now: its class is on, and so is at least one of
    /// the two channel families (Redis publishes nothing without `K` or `E`).
    pub fn publishes(&self, class: u32) -> bool {
        let flags = self.get();
        flags & class != 0 && flags & (KEYSPACE | KEYEVENT) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_print_as_redis_prints_them() {
        for (set, shown) in [("gKE", "gKE"), ("$lshzxeKE", "$lshzxeKE"), ("KA", "AK"), ("EA", "AE"), ("", "")] {
            assert_eq!(format(parse(set).unwrap()), shown, "{set}");
        }
        assert_eq!(parse("Kq"), None);
    }
}
