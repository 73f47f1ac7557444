//! The layout as a data dir records it: text with a field name before every value, independent
//! of the wire codec, so a later release reads what an earlier one wrote.
//!
//! ```text
//! kvs-layout 1
//! epoch 3 applied-by 00000000000000a1 replication-factor 2
//! member 00000000000000a1 127.0.0.1:7001 weight 1
//! member 00000000000000b2 127.0.0.1:7002 weight 2
//! ```

use kvs_proto::layout::{Layout, LayoutMember, LayoutVersion, MAX_LAYOUT_MEMBERS};
use kvs_proto::NodeId;
use std::fmt::Write;

/// The first line: what the file is and its format's version.
const MAGIC: &str = "kvs-layout 1";

/// The layout as the file's text.
pub fn to_text(layout: &Layout) -> String {
    let mut text = format!(
        "{MAGIC}\nepoch {} applied-by {} replication-factor {}",
        layout.version.epoch, layout.version.applied_by, layout.replication_factor
    );
    for member in &layout.members {
        let _ = write!(text, "\nmember {} {} weight {}", member.node, member.addr, member.weight);
    }
    text
}

/// The layout the file's text holds, checked as one from a peer would be.
pub fn from_text(text: &str) -> Result<Layout, String> {
    let mut lines = text.lines();
    if lines.next() != Some(MAGIC) {
        return Err(format!("does not begin with '{MAGIC}'"));
    }
    let head = lines.next().ok_or("has no epoch line")?;
    let (epoch, applied_by, replication_factor) = match head.split(' ').collect::<Vec<_>>()[..] {
        ["epoch", epoch, "applied-by", by, "replication-factor", factor] => {
            (number(epoch)?, node(by)?, number(factor)?.try_into().map_err(|_| "a factor past u32")?)
        }
        _ => return Err(format!("bad epoch line '{head}'")),
    };
    let mut members = Vec::new();
    for line in lines.filter(|line| !line.is_empty()) {
        if members.len() == MAX_LAYOUT_MEMBERS {
            return Err(format!("names more than {MAX_LAYOUT_MEMBERS} members"));
        }
        match line.split(' ').collect::<Vec<_>>()[..] {
            ["member", id, addr, "weight", weight] => members.push(LayoutMember {
                node: node(id)?,
                addr: addr.parse().map_err(|e| format!("bad address '{addr}': {e}"))?,
                weight: number(weight)?.try_into().map_err(|_| "a weight past u32")?,
            }),
            _ => return Err(format!("bad member line '{line}'")),
        }
    }
    let layout = Layout { version: LayoutVersion { epoch, applied_by }, replication_factor, members };
    layout.check().map_err(|e| e.to_string())?;
    Ok(layout)
}

fn number(text: &str) -> Result<u64, String> {
    text.parse().map_err(|e| format!("'{text}' is not a number: {e}"))
}

fn node(text: &str) -> Result<NodeId, String> {
    u64::from_str_radix(text, 16).map(NodeId).map_err(|e| format!("'{text}' is not a node id: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layout_survives_its_text() {
        let member = |id, port, weight| LayoutMember {
            node: NodeId(id),
            addr: format!("127.0.0.1:{port}").parse().unwrap(),
            weight,
        };
        let layout = Layout {
            version: LayoutVersion { epoch: 3, applied_by: NodeId(0xa1) },
            replication_factor: 2,
            members: vec![member(0xa1, 7001, 1), member(0xb2, 7002, 2)],
        };
        let text = to_text(&layout);
        assert!(text.starts_with("kvs-layout 1\nepoch 3 applied-by 00000000000000a1 replication-factor 2\n"), "{text}");
        assert_eq!(from_text(&text), Ok(layout.clone()));
        assert_eq!(from_text(&format!("{text}\n")), Ok(layout), "a final newline is fine");
    }

    #[test]
    fn a_damaged_file_is_an_error() {
        assert!(from_text("").is_err());
        assert!(from_text("kvs-layout 2\n").is_err());
        assert!(from_text("kvs-layout 1\nepoch x applied-by 1 replication-factor 1").is_err());
        let head = "kvs-layout 1\nepoch 1 applied-by 01 replication-factor 1";
        assert!(from_text(head).unwrap_err().contains("at least one member"));
        assert!(from_text(&format!("{head}\nmember 01 nowhere weight 1")).is_err());
        assert!(from_text(&format!("{head}\nmember 01 127.0.0.1:1 weight 0")).is_err());
    }
}
