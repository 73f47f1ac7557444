//! The slots a node has yet to fetch, as its data dir records them: text with a field name
//! before the values, so a restart knows which of the slots it holds its cursors do not cover
//! (docs/partitioning.md, "Moving slots").
//!
//! ```text
//! kvs-fetching 1
//! slots 0-99 512 16000-16383
//! ```

use kvs_proto::slot::SLOTS;
use kvs_proto::slot_set::SlotSet;

/// The first line: what the file is and its format's version.
const MAGIC: &str = "kvs-fetching 1";

/// The slots as the file's text.
pub fn to_text(slots: &SlotSet) -> String {
    let runs: Vec<String> = slots
        .runs()
        .into_iter()
        .map(|(first, last)| if first == last { first.to_string() } else { format!("{first}-{last}") })
        .collect();
    format!("{MAGIC}\nslots {}", runs.join(" ")).trim_end().to_string()
}

/// The slots the file's text holds.
pub fn from_text(text: &str) -> Result<SlotSet, String> {
    let mut lines = text.lines();
    if lines.next() != Some(MAGIC) {
        return Err(format!("does not begin with '{MAGIC}'"));
    }
    let line = lines.next().ok_or("has no slots line")?;
    let mut words = line.split(' ').filter(|w| !w.is_empty());
    if words.next() != Some("slots") {
        return Err(format!("bad slots line '{line}'"));
    }
    let slot = |text: &str| match text.parse::<u16>() {
        Ok(slot) if slot < SLOTS => Ok(slot),
        _ => Err(format!("'{text}' is not a slot")),
    };
    let mut set = SlotSet::empty();
    for word in words {
        let (first, last) = match word.split_once('-') {
            Some((first, last)) => (slot(first)?, slot(last)?),
            None => (slot(word)?, slot(word)?),
        };
        for s in first..=last {
            set.insert(s);
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_survive_their_text_and_bad_text_is_refused() {
        let set = SlotSet::from_runs(&[(0, 99), (512, 512), (16000, 16383)]);
        assert_eq!(to_text(&set), "kvs-fetching 1\nslots 0-99 512 16000-16383");
        assert_eq!(from_text(&to_text(&set)).unwrap(), set);
        assert_eq!(from_text(&to_text(&SlotSet::empty())).unwrap(), SlotSet::empty());
        assert!(from_text("kvs-fetching 1\nslots 16384").is_err());
        assert!(from_text("kvs-layout 1\nslots 1").is_err());
        assert!(from_text("kvs-fetching 1\nslot 1").is_err());
    }
}
