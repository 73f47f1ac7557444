//! /metrics: the node's counters and gauges in the OpenMetrics text format, encoded by
//! `prometheus-client` from what the node already counts, read at scrape time.

use crate::request_stats::ClientProtocol;
use crate::shell::Shell;
use crate::status;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use kvs_proto::{CollectionType, MemberState};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The content type of the OpenMetrics text format, which Prometheus scrapes.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Answers a scrape.
pub(super) async fn scrape(State(shell): State<Arc<Shell>>) -> impl IntoResponse {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(NodeMetrics(shell)));
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &registry) {
        Ok(()) => (StatusCode::OK, [(header::CONTENT_TYPE, CONTENT_TYPE)], body),
        Err(_) => {
            (StatusCode::INTERNAL_SERVER_ERROR, [(header::CONTENT_TYPE, "text/plain")], "encoding failed\n".into())
        }
    }
}

/// Which count of a collection type's `(type, keys, elements)` a gauge reports.
type TypeCount = fn(&(CollectionType, u64, u64)) -> u64;

/// Everything /metrics reports about one node.
struct NodeMetrics(Arc<Shell>);

impl fmt::Debug for NodeMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NodeMetrics")
    }
}

/// Writes one unlabelled gauge or counter.
fn single(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    kind: MetricType,
    value: u64,
) -> Result<(), fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
    match kind {
        MetricType::Counter => metric.encode_counter::<NoLabelSet, _, u64>(&value, None),
        _ => metric.encode_gauge(&value),
    }
}

impl Collector for NodeMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), fmt::Error> {
        let shell = &self.0;
        let report = status::report(shell, 0);
        let gauges = [
            ("kvs_keys", "Live keys held", report.key_count),
            ("kvs_tombstones", "Delete markers held until purged", report.tombstone_count),
            (
                "kvs_connections",
                "Connections open on the native and Redis ports, clients and peers",
                shell.budget.open() as u64,
            ),
            (
                "kvs_log_ok",
                "1 while the log accepts writes (or there is none), 0 once it failed",
                u64::from(shell.writes.check().is_ok()),
            ),
            ("kvs_uptime_seconds", "Seconds since the node started", shell.started.elapsed().as_secs()),
            (
                "kvs_cluster_version",
                "The newest protocol every member speaks, as this node found it; opens feature gates",
                u64::from(shell.core.cluster_version()),
            ),
        ];
        for (name, help, value) in gauges {
            single(&mut encoder, name, help, MetricType::Gauge, value)?;
        }
        let counts = shell.store().collection_counts();
        let by_type: [(&str, &str, TypeCount); 2] = [
            ("kvs_collections", "Keys holding a hash, set, sorted set or list with an element seen, by type", |c| c.1),
            (
                "kvs_collection_elements",
                "Elements seen in those collections (hash fields, set and sorted-set members, list elements), by type",
                |c| c.2,
            ),
        ];
        for (name, help, value) in by_type {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for count in &counts {
                family.encode_family(&[("type", count.0.name())])?.encode_gauge(&value(count))?;
            }
        }

        let mut skew = encoder.encode_descriptor(
            "kvs_clock_skew_milliseconds",
            "This node's wall clock minus its peers' (their upper median)",
            None,
            MetricType::Gauge,
        )?;
        skew.encode_gauge(&report.clock_skew_ms)?;

        let mut members = encoder.encode_descriptor(
            "kvs_members",
            "Members by state as this node sees them, itself included",
            None,
            MetricType::Gauge,
        )?;
        for state in [MemberState::Alive, MemberState::Suspect, MemberState::Dead, MemberState::Left] {
            let count = report.members.iter().filter(|m| m.state == state).count() as u64;
            members.encode_family(&[("state", state.to_string())])?.encode_gauge(&count)?;
        }

        let mut requests = encoder.encode_descriptor(
            "kvs_requests",
            "Requests answered, by protocol, command and outcome (error: answered with an error)",
            None,
            MetricType::Counter,
        )?;
        for (protocol, command, outcome, count) in shell.requests.counts() {
            let labels = [("protocol", protocol.name()), ("command", command), ("outcome", outcome)];
            requests.encode_family(&labels)?.encode_counter::<NoLabelSet, _, u64>(&count, None)?;
        }
        let mut latency = encoder.encode_descriptor(
            "kvs_request_duration_seconds",
            "Time from the read that brought a request to the write of its reply (pipelined requests share their batch's)",
            None,
            MetricType::Histogram,
        )?;
        for protocol in [ClientProtocol::Native, ClientProtocol::Resp] {
            let (sum, count, buckets) = shell.requests.latency(protocol).snapshot();
            let labels = [("protocol", protocol.name())];
            let mut family = latency.encode_family(&labels)?;
            family.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
        }

        for (name, help, value) in report.replication.rows() {
            single(&mut encoder, &format!("kvs_{name}"), help, MetricType::Counter, value)?;
        }
        for (name, help, value) in shell.core.pubsub_stats.rows() {
            single(&mut encoder, &format!("kvs_{name}"), help, MetricType::Counter, value)?;
        }

        if let Some(log) = shell.writes.log_stats() {
            let bytes = log.log_bytes.load(Ordering::Relaxed);
            single(&mut encoder, "kvs_log_bytes", "Size of the log file", MetricType::Gauge, bytes)?;
            let syncs = log.syncs.load(Ordering::Relaxed);
            single(
                &mut encoder,
                "kvs_log_fsyncs",
                "Syncs of appended records to the disk",
                MetricType::Counter,
                syncs,
            )?;
            let seconds = log.sync_nanos.load(Ordering::Relaxed) as f64 / 1e9;
            let help = "Seconds those syncs took, in all (divided by kvs_log_fsyncs_total: the mean fsync latency)";
            let mut total = encoder.encode_descriptor("kvs_log_fsync_seconds", help, None, MetricType::Counter)?;
            total.encode_counter::<NoLabelSet, _, u64>(&seconds, None)?;
        }

        // Replication progress: how far this node applied each origin's writes. An origin's own
        // figure is how many writes it made, so another node's lag behind it is the difference.
        // `node` names the node writing under the origin now (empty for an earlier run's).
        let mut applied = encoder.encode_descriptor(
            "kvs_origin_applied_sequence",
            "Highest sequence number of each origin's writes this node applied (its own: writes it made)",
            None,
            MetricType::Gauge,
        )?;
        let names: Vec<(String, String)> =
            shell.core.origin_nodes().iter().map(|(origin, shell)| (origin.to_string(), shell.to_string())).collect();
        for (origin, seq) in &report.cursors {
            let named = names.iter().find(|(o, _)| o == origin).map_or("", |(_, shell)| shell.as_str());
            applied.encode_family(&[("origin", origin.as_str()), ("node", named)])?.encode_gauge(seq)?;
        }
        Ok(())
    }
}
