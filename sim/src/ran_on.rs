//! Where a Redis command of the workload ran: on the node it was sent to, or, once a layout was
//! applied, perhaps on an owner that node forwarded it to (a plain client's command of a slot the
//! node does not hold runs on an owner, docs/partitioning.md, "Forwarding for plain clients").
//! What it wrote is then as safe as that owner keeps it, so the oracles may require it only if
//! no node the run made forgetful can have run it.

use std::collections::BTreeSet;

/// The node a command was sent to, and whether it may have run elsewhere.
#[derive(Clone, Copy, Debug)]
pub struct RanOn {
    /// The node the workload sent it to (the one whose order its pushes keep).
    pub node: usize,
    /// A layout had been applied when it was sent: it may have been forwarded to any owner.
    pub forwardable: bool,
}

impl RanOn {
    /// Whether a crash can have lost what it wrote: its node, or (forwarded) any node, may have
    /// forgotten what it acknowledged.
    pub fn may_be_forgotten(&self, forgetful: &BTreeSet<usize>) -> bool {
        forgetful.contains(&self.node) || (self.forwardable && !forgetful.is_empty())
    }
}
