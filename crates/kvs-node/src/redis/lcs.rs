//! `LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]`: the longest common subsequence
//! of two values, by the textbook dynamic programme, reported as Redis reports it.

use super::{Call, NOT_AN_INTEGER};

/// Cells of the table beyond which LCS is refused: 4 bytes each, so at most 256 MiB.
const MAX_CELLS: usize = 64 << 20;

/// One matching range: offsets in the first and second value, inclusive, and its length.
type Match = ((usize, usize), (usize, usize), usize);

/// The LCS table of `a` and `b`: `cell(i, j)` is the LCS length of `a[..i]` and `b[..j]`.
struct Table {
    cells: Vec<u32>,
    width: usize,
}

impl Table {
    fn new(a: &[u8], b: &[u8]) -> Table {
        let width = b.len() + 1;
        let mut cells = vec![0u32; (a.len() + 1) * width];
        for i in 1..=a.len() {
            for j in 1..=b.len() {
                cells[i * width + j] = if a[i - 1] == b[j - 1] {
                    cells[(i - 1) * width + j - 1] + 1
                } else {
                    cells[(i - 1) * width + j].max(cells[i * width + j - 1])
                };
            }
        }
        Table { cells, width }
    }

    fn cell(&self, i: usize, j: usize) -> u32 {
        self.cells[i * self.width + j]
    }
}

/// Walks the table back from its corner: the subsequence, and the matching ranges from the last
/// to the first (Redis's order) of at least `min_len` bytes.
fn walk(a: &[u8], b: &[u8], table: &Table, min_len: usize) -> (Vec<u8>, Vec<Match>) {
    let (mut i, mut j) = (a.len(), b.len());
    let mut sequence = Vec::with_capacity(table.cell(i, j) as usize);
    let mut matches = Vec::new();
    // The range being grown backwards: (a_start, a_end, b_start, b_end).
    let mut range: Option<(usize, usize, usize, usize)> = None;
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            sequence.push(a[i - 1]);
            match &mut range {
                None => range = Some((i - 1, i - 1, j - 1, j - 1)),
                Some((a_start, _, b_start, _)) if *a_start == i && *b_start == j => {
                    *a_start -= 1;
                    *b_start -= 1;
                }
                Some(_) => emit = true,
            }
            if range.is_some_and(|(a_start, _, b_start, _)| a_start == 0 || b_start == 0) {
                emit = true;
            }
            i -= 1;
            j -= 1;
        } else {
            if table.cell(i - 1, j) > table.cell(i, j - 1) {
                i -= 1;
            } else {
                j -= 1;
            }
            emit = range.is_some();
        }
        if emit {
            if let Some((a_start, a_end, b_start, b_end)) = range.take() {
                let len = a_end - a_start + 1;
                if len >= min_len {
                    matches.push(((a_start, a_end), (b_start, b_end), len));
                }
            }
        }
    }
    sequence.reverse();
    (sequence, matches)
}

/// `LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]`
pub fn lcs(call: &mut Call<'_, '_>) {
    let (mut len_only, mut idx, mut with_len, mut min_len) = (false, false, false, 0usize);
    let mut i = 3;
    while i < call.args.len() {
        let option = call.args.get(i);
        if option.eq_ignore_ascii_case(b"LEN") {
            len_only = true;
        } else if option.eq_ignore_ascii_case(b"IDX") {
            idx = true;
        } else if option.eq_ignore_ascii_case(b"WITHMATCHLEN") {
            with_len = true;
        } else if option.eq_ignore_ascii_case(b"MINMATCHLEN") && i + 1 < call.args.len() {
            i += 1;
            match super::parse_int(call.args.get(i)) {
                Some(n) => min_len = n.max(0) as usize,
                None => return call.reply.error(NOT_AN_INTEGER),
            }
        } else {
            return call.reply.error("ERR syntax error");
        }
        i += 1;
    }
    if len_only && idx {
        return call.reply.error("ERR If you want both the length and indexes, please just use IDX.");
    }
    let now_ms = call.now_ms();
    let store = call.shell.store();
    let a = store.get_value(call.args.get(1), now_ms).unwrap_or_default();
    let b = store.get_value(call.args.get(2), now_ms).unwrap_or_default();
    if (a.len() + 1).saturating_mul(b.len() + 1) > MAX_CELLS {
        return call.reply.error("ERR LCS of values this long would need too much memory");
    }
    let table = Table::new(&a, &b);
    if len_only {
        return call.reply.integer(table.cell(a.len(), b.len()) as i64);
    }
    let (sequence, matches) = walk(&a, &b, &table, min_len);
    if !idx {
        return call.reply.bulk(&sequence);
    }
    let reply = &mut *call.reply;
    reply.map(2);
    reply.bulk(b"matches");
    reply.array(matches.len());
    for ((a_start, a_end), (b_start, b_end), len) in matches {
        reply.array(2 + with_len as usize);
        for (start, end) in [(a_start, a_end), (b_start, b_end)] {
            reply.array(2);
            reply.integer(start as i64);
            reply.integer(end as i64);
        }
        if with_len {
            reply.integer(len as i64);
        }
    }
    reply.bulk(b"len");
    reply.integer(sequence.len() as i64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_subsequence_and_its_ranges_as_redis_does() {
        let (a, b) = (b"ohmytext".as_slice(), b"mynewtext".as_slice());
        let table = Table::new(a, b);
        let (sequence, matches) = walk(a, b, &table, 0);
        assert_eq!(sequence, b"mytext");
        assert_eq!(matches, vec![((4, 7), (5, 8), 4), ((2, 3), (0, 1), 2)]);
        assert_eq!(walk(a, b, &table, 4).1, vec![((4, 7), (5, 8), 4)]);
    }
}
