//! Where a list's element stands: a position identifier whose bytes sort in list order, the
//! element's name in the collection (so the collection's index walks a list in order).
//!
//! A position is a major number, then a string of digits (bytes 1 to 255) ending in a 0: the
//! digits of a place between two neighbours, if any, then the writer's tag (its origin and
//! sequence number, 9 digits each), which makes every position unique, and a last digit 128. A push takes a major past
//! the end (RPUSH: the last major plus one, LPUSH: the first minus one) and no place digits, so a
//! queue's positions never grow; an insert between two neighbours takes digits strictly between
//! theirs. Two nodes pushing at once may take the same major: their tags order them, alike on
//! every node, and both are kept.

use kvs_proto::NodeId;

/// Digits a tag takes: 255^9 > 2^64, so a u64 fits in 9 digits of base 255.
const TAG_DIGITS: usize = 9;

/// The digit every position's digits end with: since none ends in a run of 1s, there is always
/// room for a place strictly between two positions.
const LAST_DIGIT: u8 = 128;

/// A list element's position, as its bytes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position(Vec<u8>);

/// Why bytes are not a position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed list position")]
pub struct MalformedPosition;

impl Position {
    /// The position whose bytes are `bytes`, if they are one.
    pub fn from_bytes(bytes: &[u8]) -> Result<Position, MalformedPosition> {
        let digits = bytes.get(8..).ok_or(MalformedPosition)?;
        match digits.split_last() {
            Some((0, body))
                if body.len() > 2 * TAG_DIGITS && body.last() == Some(&LAST_DIGIT) && !body.contains(&0) =>
            {
                Ok(Position(bytes.to_vec()))
            }
            _ => Err(MalformedPosition),
        }
    }

    /// Its bytes: the element's name.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Its major number.
    pub fn major(&self) -> i64 {
        let raw = u64::from_be_bytes(self.0[..8].try_into().expect("8 bytes"));
        (raw ^ (1 << 63)) as i64
    }

    /// Its digits, the terminating 0 left out.
    fn digits(&self) -> &[u8] {
        &self.0[8..self.0.len() - 1]
    }

    fn build(major: i64, place: &[u8], origin: NodeId, seq: u64) -> Position {
        let mut bytes = Vec::with_capacity(8 + place.len() + 2 * TAG_DIGITS + 2);
        bytes.extend_from_slice(&((major as u64) ^ (1 << 63)).to_be_bytes());
        bytes.extend_from_slice(place);
        push_tag(&mut bytes, origin.0);
        push_tag(&mut bytes, seq);
        bytes.extend_from_slice(&[LAST_DIGIT, 0]);
        Position(bytes)
    }

    /// A push's position (its writer's origin and sequence number): after `last` for RPUSH,
    /// before `first` for LPUSH, the major 0 in an empty list.
    pub fn pushed(end: Option<&Position>, tail: bool, origin: NodeId, seq: u64) -> Position {
        let major = match (end, tail) {
            (None, _) => 0,
            (Some(last), true) => last.major().saturating_add(1),
            (Some(first), false) => first.major().saturating_sub(1),
        };
        Position::build(major, &[], origin, seq)
    }

    /// A position strictly between `before` and `after` (LINSERT), either of which may be absent
    /// (the list's end); the writer's origin and sequence number make it unique.
    pub fn between(before: Option<&Position>, after: Option<&Position>, origin: NodeId, seq: u64) -> Position {
        match (before, after) {
            (None, None) => Position::pushed(None, true, origin, seq),
            (Some(before), None) => Position::pushed(Some(before), true, origin, seq),
            (None, Some(after)) => Position::pushed(Some(after), false, origin, seq),
            (Some(before), Some(after)) => {
                let (low, high) = (before.major(), after.major());
                if high - low >= 2 {
                    return Position::build(low + 1, &[], origin, seq);
                }
                let upper = (low == high).then(|| after.digits());
                Position::build(low, &digits_between(before.digits(), upper), origin, seq)
            }
        }
    }
}

/// Appends `value` as 9 digits of base 255 (each 1 to 255), most significant first, so that
/// digit strings compare as the numbers do.
fn push_tag(out: &mut Vec<u8>, mut value: u64) {
    let mut digits = [0u8; TAG_DIGITS];
    for digit in digits.iter_mut().rev() {
        *digit = (value % 255) as u8 + 1;
        value /= 255;
    }
    out.extend_from_slice(&digits);
}

/// Digits (each 1 to 255) that sort strictly after `low` and strictly before `high` (`None`: no
/// upper bound), where a string that ends sorts before any that goes on; and whatever is
/// appended to them keeps both true. `low` sorts before `high`.
fn digits_between(low: &[u8], high: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut bounded = high.is_some();
    for i in 0.. {
        let a = u16::from(low.get(i).copied().unwrap_or(0));
        let b = match (bounded, high) {
            (true, Some(high)) => u16::from(high.get(i).copied().unwrap_or(0)),
            _ => 256,
        };
        debug_assert!(a <= b, "low sorts before high");
        if b - a >= 2 {
            // Where low has ended under a bound, the place goes just below the bound rather than
            // halfway: inserting again and again right after one element (each time below the
            // last insert) then takes 254 inserts to need another digit, not 8.
            let digit = if a == 0 && bounded { b - 1 } else { (a + b) / 2 };
            out.push(digit as u8);
            return out;
        }
        match (a, b == a) {
            // Shared so far: keep it and go on, still bounded.
            (_, true) => out.push(a as u8),
            // Low ended where high has a 1: a 1 here is past low; stay below high's rest.
            (0, false) => out.push(1),
            // One apart: low's digit keeps us below high from here on.
            (_, false) => {
                out.push(a as u8);
                bounded = false;
            }
        }
    }
    unreachable!("the loop returns once low's digits run out")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(major: i64, seq: u64) -> Position {
        Position::build(major, &[], NodeId(1), seq)
    }

    #[test]
    fn pushes_go_past_the_ends_and_concurrent_ones_are_ordered_by_their_writer() {
        let first = Position::pushed(None, true, NodeId(1), 1);
        let right = Position::pushed(Some(&first), true, NodeId(1), 2);
        let left = Position::pushed(Some(&first), false, NodeId(1), 3);
        assert!(left < first && first < right);
        assert_eq!((left.major(), first.major(), right.major()), (-1, 0, 1));
        // Two nodes push after the same last element at once: both kept, in tag order.
        let (a, b) =
            (Position::pushed(Some(&first), true, NodeId(2), 9), Position::pushed(Some(&first), true, NodeId(3), 1));
        assert!(a != b && first < a.clone().min(b.clone()));
        assert_eq!(a < b, 2 < 3, "the origin decides");
        assert_eq!(Position::from_bytes(a.as_bytes()), Ok(a));
        assert!(Position::from_bytes(b"short").is_err());
    }

    #[test]
    fn an_insert_between_two_elements_of_one_major_pushed_at_once_fits() {
        let first = at(0, 1);
        let (a, b) =
            (Position::pushed(Some(&first), true, NodeId(2), 1), Position::pushed(Some(&first), true, NodeId(3), 1));
        let c = Position::between(Some(&a), Some(&b), NodeId(4), 7);
        assert!(a < c && c < b, "{a:?} < {c:?} < {b:?}");
    }

    #[test]
    fn inserting_again_and_again_at_one_place_keeps_order_and_grows_slowly() {
        // Each insert lands just after `low`, between it and the previous insert: the worst
        // case for a fractional position. Places step down from the bound, so a digit serves
        // about 127 inserts before the next one is needed (with halving it served 8, and 200
        // inserts made a 606-byte position).
        let (low, high) = (at(0, 1), at(0, 2));
        let mut newest = high.clone();
        for seq in 0..200 {
            let next = Position::between(Some(&low), Some(&newest), NodeId(7), 100 + seq);
            assert!(low < next && next < newest);
            newest = next;
        }
        assert!(newest.as_bytes().len() <= 160, "{} bytes after 200 inserts", newest.as_bytes().len());
    }

    fn arbitrary_position() -> impl Strategy<Value = Position> {
        (-3i64..3, proptest::collection::vec(1u8..=255, 0..4), 0u64..5, 0u64..1000)
            .prop_map(|(major, place, origin, seq)| Position::build(major, &place, NodeId(origin), seq))
    }

    proptest! {
        #[test]
        fn between_lies_strictly_between(x in arbitrary_position(), y in arbitrary_position(), origin in 0u64..u64::MAX, seq in 0u64..u64::MAX) {
            prop_assume!(x != y);
            let (low, high) = if x < y { (x, y) } else { (y, x) };
            let c = Position::between(Some(&low), Some(&high), NodeId(origin), seq);
            prop_assert!(low < c && c < high, "{:?} < {:?} < {:?}", low, c, high);
            prop_assert_eq!(Position::from_bytes(c.as_bytes()), Ok(c.clone()));
            // And again between the new one and each neighbour: the space never runs out.
            let d = Position::between(Some(&low), Some(&c), NodeId(origin), seq.wrapping_add(1));
            prop_assert!(low < d && d < c);
        }

        #[test]
        fn tags_sort_as_their_numbers(a in any::<u64>(), b in any::<u64>()) {
            let (mut x, mut y) = (Vec::new(), Vec::new());
            push_tag(&mut x, a);
            push_tag(&mut y, b);
            prop_assert_eq!(x.cmp(&y), a.cmp(&b));
            prop_assert!(!x.contains(&0));
        }
    }
}
