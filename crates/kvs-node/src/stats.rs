//! The node's replication counters, generated from the table in
//! [`kvs_proto::replication_counters`] and reported under `replication` in `status`, on
//! `/metrics` and in INFO.

use kvs_proto::ReplicationStatus;
use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters_struct {
    ($($name:ident: $help:literal,)*) => {
        /// Monotonic counters, bumped on the replication paths; one per row of the table.
        #[derive(Debug, Default)]
        pub struct ReplicationCounters {
            $(
                #[doc = $help]
                pub $name: AtomicU64,
            )*
        }

        impl ReplicationCounters {
            /// A consistent-enough copy for a status report.
            pub fn snapshot(&self) -> ReplicationStatus {
                ReplicationStatus { $($name: self.$name.load(Ordering::Relaxed),)* }
            }
        }
    };
}

kvs_proto::for_each_replication_counter!(counters_struct);

/// Adds `n` to a counter.
pub fn bump(counter: &AtomicU64, n: usize) {
    counter.fetch_add(n as u64, Ordering::Relaxed);
}
