//! The layout as core inputs: an operator's apply, and the offers, asks and answers by which
//! members pass the newest layout on (docs/partitioning.md, "The layout").
//!
//! A layout is pulled, never pushed: a member offers its version beside its gossip, and a member
//! holding an older one asks for the layout. One is taken only from a member we asked, only if
//! it is at least the version that member offered, and only if it passes [`Layout::check`]; it
//! is adopted only if it is newer than ours, so every node ends on the largest version applied
//! anywhere. A member holding the cluster secret can still offer a layout nobody applied: it
//! could then move slots, never drop them, since data leaves a node only once every new owner
//! has confirmed it (a later step), and every adoption is logged with who applied it.

use super::{lock, Core, Effect, Now};
use crate::stats::bump;
use kvs_proto::features::LAYOUT;
use kvs_proto::layout::{Layout, LayoutMember, LayoutVersion, MAX_LAYOUT_MEMBERS};
use kvs_proto::{NodeId, PeerMessage};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The layout this node holds, and the layouts it asked members for.
#[derive(Debug, Default)]
pub(crate) struct Layouts {
    /// The newest layout adopted (`None`: none was ever applied; every member owns every slot).
    current: Option<Layout>,
    /// Every slot's owners under `current`, best first, computed once when it is adopted.
    owners: Option<Arc<Vec<Vec<NodeId>>>>,
    /// Per member asked, the version it offered; one entry per member at most.
    asked: HashMap<NodeId, LayoutVersion>,
}

/// Why an apply was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApplyRefused {
    /// A member of the cluster runs a release that cannot hold a layout.
    #[error("{0}")]
    GateClosed(String),
    /// The proposed layout is not one every node could use.
    #[error("{0}")]
    Invalid(#[from] kvs_proto::layout::LayoutError),
}

impl Layouts {
    /// Starts from the layout the data dir recorded, if any.
    pub(crate) fn new(recorded: Option<Layout>) -> Self {
        let mut layouts = Layouts::default();
        if let Some(layout) = recorded {
            layouts.adopt(layout);
        }
        layouts
    }

    /// Makes `layout` the one held. Its owners table is 16,384 slots times every member's
    /// weight in hashes: computed here, once per layout, which an operator changes rarely.
    fn adopt(&mut self, layout: Layout) {
        self.owners = Some(Arc::new(layout.table()));
        self.current = Some(layout);
    }

    /// Whether the layout held leaves some member without some slot (a factor below its
    /// member count): only then do multi-key commands need their keys in one slot.
    pub(crate) fn partitioned(&self) -> bool {
        self.current.as_ref().is_some_and(|layout| layout.owners_per_slot() < layout.members.len())
    }

    /// Every slot's owners under the layout held, best first.
    pub(crate) fn owners(&self) -> Option<Arc<Vec<Vec<NodeId>>>> {
        self.owners.clone()
    }

    fn version(&self) -> LayoutVersion {
        self.current.as_ref().map(|layout| layout.version).unwrap_or_default()
    }
}

impl Core {
    /// The layout this node holds.
    pub(crate) fn layout(&self) -> Option<Layout> {
        lock(&self.layouts).current.clone()
    }

    /// Every slot's owners under the layout this node holds, best first.
    pub(crate) fn owners(&self) -> Option<Arc<Vec<Vec<NodeId>>>> {
        lock(&self.layouts).owners()
    }

    /// The layout this node holds with every slot's owners, best first.
    pub(crate) fn layout_owners(&self) -> Option<(Layout, Arc<Vec<Vec<NodeId>>>)> {
        let layouts = lock(&self.layouts);
        Some((layouts.current.clone()?, layouts.owners.clone()?))
    }

    /// Whether the layout held partitions the key space (see [`Layouts::partitioned`]): read
    /// by every multi-key command, so kept beside the lock.
    pub(crate) fn partitioned(&self) -> bool {
        self.partitioned.load(Ordering::Relaxed)
    }

    /// Makes `layout` the one held; returns the effects to carry out, the slots to fetch
    /// recorded before the layout that made them.
    fn adopt(&self, layouts: &mut Layouts, layout: Layout) -> Vec<Effect> {
        // A node that held no layout and learns one the cluster had before (or one it is not a
        // member of) joined a partitioned cluster: it holds nothing yet, whatever its empty
        // cursors say, so it fetches every slot it owns, as after a restart without a record.
        let newcomer = layouts.current.is_none()
            && (layout.version.epoch > 1 || !layout.members.iter().any(|member| member.node == self.node));
        layouts.adopt(layout.clone());
        let fetching = self.hold(layouts.owners().as_deref().map(Vec::as_slice), newcomer.then_some(None));
        self.partitioned.store(layouts.partitioned(), Ordering::Relaxed);
        fetching.into_iter().chain([Effect::LayoutAdopted(layout)]).collect()
    }

    /// An operator applies a layout of `members` owning each slot `replication_factor` times: it
    /// takes the next epoch, applied by us, is adopted here, and offered to every peer at once.
    pub(crate) fn apply_layout(
        &self,
        replication_factor: u32,
        members: Vec<LayoutMember>,
        now: Now,
    ) -> Result<(Layout, Vec<Effect>), ApplyRefused> {
        if !self.is_open(LAYOUT) {
            return Err(ApplyRefused::GateClosed(LAYOUT.closed_message("cluster apply", self.cluster_version())));
        }
        let me = self.me().id;
        let mut layouts = lock(&self.layouts);
        let version = LayoutVersion { epoch: layouts.version().epoch + 1, applied_by: me };
        let layout = Layout { version, replication_factor, members };
        layout.check()?;
        tracing::info!(
            epoch = version.epoch,
            members = layout.members.len(),
            replication_factor,
            "layout applied here"
        );
        let mut effects = self.adopt(&mut layouts, layout.clone());
        drop(layouts);
        let peers = lock(&self.members).alive_peers(now.at);
        effects.extend(peers.into_iter().map(|to| Effect::Send { to, message: offer(version) }));
        Ok((layout, effects))
    }

    /// What we send `peer` beside a gossip message: our layout's version, once we hold one.
    pub(super) fn layout_offer(&self) -> Option<super::Outgoing> {
        lock(&self.layouts).current.as_ref().map(|layout| offer(layout.version))
    }

    /// `from` holds a layout of `version`: ask for it if it is newer than ours.
    pub(super) fn layout_offered(&self, from: NodeId, version: LayoutVersion) -> Vec<Effect> {
        let mut layouts = lock(&self.layouts);
        if version <= layouts.version() {
            return Vec::new();
        }
        if !layouts.asked.contains_key(&from) && layouts.asked.len() >= MAX_LAYOUT_MEMBERS {
            // More members asked than a layout may name: start over rather than grow.
            layouts.asked.clear();
        }
        layouts.asked.insert(from, version);
        vec![Effect::Send { to: from, message: PeerMessage::LayoutWanted { version } }]
    }

    /// `from` asks for our layout.
    pub(super) fn layout_wanted(&self, from: NodeId) -> Vec<Effect> {
        match lock(&self.layouts).current.clone() {
            Some(layout) => vec![Effect::Send { to: from, message: PeerMessage::Layout { layout } }],
            None => Vec::new(),
        }
    }

    /// `from` sent its layout: adopted if we asked it for at least this version and it is newer
    /// than ours and sound.
    pub(super) fn layout_received(&self, from: NodeId, layout: Layout) -> Vec<Effect> {
        let mut layouts = lock(&self.layouts);
        let asked = layouts.asked.remove(&from);
        if asked.is_none_or(|asked| layout.version < asked) {
            tracing::warn!(peer = %from, epoch = layout.version.epoch, "refusing a layout we did not ask this member for");
            bump(&self.stats.peer_messages_refused, 1);
            return Vec::new();
        }
        if let Err(error) = layout.check() {
            tracing::warn!(peer = %from, %error, "refusing an unsound layout");
            bump(&self.stats.peer_messages_refused, 1);
            return Vec::new();
        }
        if layout.version <= layouts.version() {
            return Vec::new();
        }
        tracing::info!(
            peer = %from,
            epoch = layout.version.epoch,
            applied_by = %layout.version.applied_by,
            members = layout.members.len(),
            replication_factor = layout.replication_factor,
            "layout adopted"
        );
        self.adopt(&mut layouts, layout)
    }
}

fn offer(version: LayoutVersion) -> super::Outgoing {
    PeerMessage::LayoutOffer { version }
}
