//! Redis-style glob matching on bytes: `*`, `?`, `[abc]`, `[^a-z]`, and `\` escapes.

/// Longest pattern a node matches keys against (KEYS, SCAN MATCH). Matching costs at most the
/// pattern's length times the key's (a `*` is resumed from, never re-explored), so the bound
/// is what keeps one command over many keys from stalling the node.
pub const MAX_PATTERN_BYTES: usize = 4096;

/// Whether `text` matches `pattern` with Redis's glob rules, in time linear in their product.
pub fn matches(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    // Where to resume after the last `*`: (pattern index after it, text index it now covers up to).
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        let step = if p < pattern.len() { match_one(pattern, p, text[t]) } else { None };
        match step {
            Some(Step::Star) => {
                star = Some((p + 1, t));
                p += 1;
                continue;
            }
            Some(Step::Matched(next)) => {
                p = next;
                t += 1;
                continue;
            }
            None => {}
        }
        match star {
            Some((after, covered)) => {
                p = after;
                t = covered + 1;
                star = Some((after, covered + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

enum Step {
    /// `*` at this position.
    Star,
    /// The pattern element matched one byte; the next element starts here.
    Matched(usize),
}

/// Tries the pattern element at `p` against one byte.
fn match_one(pattern: &[u8], p: usize, byte: u8) -> Option<Step> {
    match pattern[p] {
        b'*' => Some(Step::Star),
        b'?' => Some(Step::Matched(p + 1)),
        b'\\' if p + 1 < pattern.len() => (pattern[p + 1] == byte).then_some(Step::Matched(p + 2)),
        b'[' => match_class(pattern, p + 1, byte),
        c => (c == byte).then_some(Step::Matched(p + 1)),
    }
}

/// Matches a `[...]` class starting after the `[`; an unclosed class runs to the pattern's end.
fn match_class(pattern: &[u8], mut p: usize, byte: u8) -> Option<Step> {
    let negate = pattern.get(p) == Some(&b'^');
    if negate {
        p += 1;
    }
    let mut found = false;
    while p < pattern.len() && pattern[p] != b']' {
        if pattern[p] == b'\\' && p + 1 < pattern.len() {
            found |= pattern[p + 1] == byte;
            p += 2;
        } else if p + 2 < pattern.len() && pattern[p + 1] == b'-' && pattern[p + 2] != b']' {
            let (lo, hi) = (pattern[p].min(pattern[p + 2]), pattern[p].max(pattern[p + 2]));
            found |= (lo..=hi).contains(&byte);
            p += 3;
        } else {
            found |= pattern[p] == byte;
            p += 1;
        }
    }
    let next = (p + 1).min(pattern.len());
    (found != negate).then_some(Step::Matched(next))
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn follows_redis_glob_rules() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "", true),
            ("*", "anything", true),
            ("h?llo", "hello", true),
            ("h?llo", "hllo", false),
            ("h*llo", "heeeello", true),
            ("h*llo", "hello!", false),
            ("h[ae]llo", "hallo", true),
            ("h[ae]llo", "hillo", false),
            ("h[^e]llo", "hallo", true),
            ("h[^e]llo", "hello", false),
            ("h[a-b]llo", "hbllo", true),
            ("h[a-b]llo", "hcllo", false),
            ("h\\*llo", "h*llo", true),
            ("h\\*llo", "hello", false),
            ("key:*:x", "key:1:2:x", true),
            ("*a*b", "xaxbxb", true),
            ("*a*b", "xaxbxc", false),
            ("user:*", "user:", true),
        ];
        for &(pattern, text, expected) in cases {
            assert_eq!(matches(pattern.as_bytes(), text.as_bytes()), expected, "{pattern} vs {text}");
        }
    }
}
