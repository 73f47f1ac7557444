//! Pub/sub across the cluster: a message published on any node reaches the subscribers of every
//! node, in publish order per publisher, at most once.
//!
//! Nothing is stored or logged. A node delivers what its clients publish to its own subscribers
//! ([`Hub`]) and hands it to every peer task through [`FanOut`], a backlog bounded in bytes; each
//! task sends what accumulated as one `Published` frame, and the receiving node delivers it to its
//! subscribers without forwarding it further. A peer that is disconnected or falls further
//! behind than the backlog misses those messages: at most once, as Redis Cluster's pub/sub.

pub mod fanout;
pub mod hub;
pub mod mailbox;
pub mod stats;

pub use fanout::FanOut;
pub use hub::{Hub, Kind, Subscriber};
pub use mailbox::{Delivery, Mailbox};
pub use stats::PubSubStats;
