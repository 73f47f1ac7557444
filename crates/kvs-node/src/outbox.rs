//! Pushes a writing session sends itself, when a peer's link is idle.
//!
//! A peer task coalesces pushes: woken by a write, it yields so that every runnable session adds
//! its writes first, and then sends them in one frame. Under load that is what keeps replication
//! cheap, but on a quiet link it delays each push by a task hop and a scheduler pass, after the
//! client's reply has gone out. Redis writes its replication stream before the replies of the same
//! event-loop turn. So the first local write of each runtime pass (the runtime counts passes with
//! [`new_pass`]) goes out from the session itself, to every peer whose link is idle, before the
//! session replies; the rest of the pass is left to the peer tasks' coalescing.
//!
//! Order per peer is kept by one rule: a session writes to a peer only when that peer's task has
//! nothing queued and is not writing (`busy` clear). Whoever queues a push for the task instead
//! sets `busy`, under the same lock and before the push reaches the task's queue, and only the task
//! clears it, once its queue is empty. The task skips the pushes a session already wrote (their
//! sequence numbers are at most `inline_upto`). Only plain TCP links are written this way: a TLS
//! stream has one writer, its task.

use crate::core::{Outgoing, Wanted};
use crate::net;
use bytes::BytesMut;
use kvs_proto::connection::frame_into;
use kvs_store::Record;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Runtime passes so far: bumped each time a worker thread resumes from parking.
static PASSES: AtomicU64 = AtomicU64::new(0);

/// Counts a runtime pass; the node's runtime calls it when a worker thread unparks.
pub fn new_pass() {
    PASSES.fetch_add(1, Ordering::Relaxed);
}

/// One peer's side of the arrangement, shared by its task and the writing sessions.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    state: Mutex<OutboxState>,
}

#[derive(Debug)]
struct OutboxState {
    /// The connection's socket (a duplicate of its descriptor), while a plain TCP link is up.
    socket: Option<std::net::TcpStream>,
    /// The task may hold queued pushes, or is writing: sessions must leave this peer to it.
    busy: bool,
    /// The part of a session's frame the socket did not take; the task writes it first.
    remainder: Vec<u8>,
    /// The highest sequence number a session wrote itself; the task skips pushes up to it.
    inline_upto: u64,
    /// The slots the peer holds, when it holds some only: a session leaves writes of others to
    /// the task, which names them in place of their records.
    wanted: Option<Arc<Wanted>>,
}

impl Default for OutboxState {
    fn default() -> Self {
        OutboxState { socket: None, busy: true, remainder: Vec::new(), inline_upto: 0, wanted: None }
    }
}

impl Outbox {
    fn state(&self) -> MutexGuard<'_, OutboxState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The task is about to write: sessions keep off until [`Outbox::end_write`]. Returns bytes
    /// a session left unwritten, which must go out before anything else.
    pub(crate) fn begin_write(&self) -> Vec<u8> {
        let mut state = self.state();
        state.busy = true;
        std::mem::take(&mut state.remainder)
    }

    /// The task has written; with nothing left in its queue (and no unfinished frame of a
    /// session's to write first), sessions may write again.
    pub(crate) fn end_write(&self, queue_empty: impl FnOnce() -> bool) {
        let mut state = self.state();
        if state.remainder.is_empty() && queue_empty() {
            state.busy = false;
        }
    }

    /// What the peer wants pushed from now on (`None`: every write).
    pub(crate) fn set_wanted(&self, wanted: Option<Arc<Wanted>>) {
        self.state().wanted = wanted;
    }

    /// Whether a session already wrote this push.
    pub(crate) fn written(&self, record: &Record) -> bool {
        record.seq() <= self.state().inline_upto
    }

    /// Sessions may write to this link from now on (a plain TCP one; others keep the task path).
    #[cfg(not(feature = "sim"))]
    fn open(&self, stream: &net::Stream) {
        use std::os::fd::AsFd;
        let net::Stream::Left(tcp) = stream else { return };
        // A second descriptor for the same socket: written only under this lock, and only while
        // the task is not writing, so frames never interleave.
        let Ok(socket) = tcp.as_fd().try_clone_to_owned() else { return };
        let mut state = self.state();
        state.socket = Some(std::net::TcpStream::from(socket));
        // What an earlier connection left unwritten died with it.
        state.remainder.clear();
    }

    /// The simulator's links are not sockets: they keep the task path.
    #[cfg(feature = "sim")]
    fn open(&self, _stream: &net::Stream) {}

    /// Sessions keep off from now on. An unfinished frame stays for the task, which may still
    /// write on this connection (its last words when the node leaves).
    fn close(&self) {
        let mut state = self.state();
        state.socket = None;
        state.busy = true;
    }
}

/// Every peer's outbox, for the write path.
#[derive(Debug, Default)]
pub(crate) struct Outboxes {
    links: Mutex<Vec<Arc<Outbox>>>,
    /// The pass of the last write sent by a session.
    last_pass: AtomicU64,
}

/// An outbox open for sessions until this drops.
pub(crate) struct Opened<'a> {
    outboxes: &'a Outboxes,
    outbox: Arc<Outbox>,
}

impl Drop for Opened<'_> {
    fn drop(&mut self) {
        self.outbox.close();
        self.outboxes.links().retain(|o| !Arc::ptr_eq(o, &self.outbox));
    }
}

/// A push frame written by a session: its size, for the traffic counters.
pub(crate) struct Sent {
    /// Peers it went to.
    pub(crate) peers: usize,
    /// Bytes of the frame.
    pub(crate) bytes: usize,
}

impl Outboxes {
    fn links(&self) -> MutexGuard<'_, Vec<Arc<Outbox>>> {
        self.links.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Opens `outbox` to sessions for the connection `stream`, until the guard drops. The task
    /// must have subscribed to the push log first, so nothing queued is missed.
    pub(crate) fn open<'a>(&'a self, outbox: &Arc<Outbox>, stream: &net::Stream) -> Opened<'a> {
        outbox.open(stream);
        self.links().push(outbox.clone());
        Opened { outboxes: self, outbox: outbox.clone() }
    }

    /// Sends `record` from the session to every idle link if it is the first write of this runtime
    /// pass, and marks the other links busy; then runs `queue`, which hands the record to the
    /// peer tasks, while every link is still locked.
    pub(crate) fn push(&self, record: Record, queue: impl FnOnce(Record)) -> Option<Sent> {
        let links = self.links();
        let mut states: Vec<_> = links.iter().map(|o| o.state()).collect();
        let pass = PASSES.load(Ordering::Relaxed);
        let first = self.last_pass.swap(pass, Ordering::Relaxed) != pass;
        let mut frame = BytesMut::new();
        let mut sent = Sent { peers: 0, bytes: 0 };
        for state in states.iter_mut() {
            // The record's slot is read only for a link a session may write now.
            let wanted = |state: &OutboxState| state.wanted.as_ref().is_none_or(|wanted| wanted.wants(&record));
            if !first || state.busy || !wanted(state) || !write(state, &record, &mut frame) {
                state.busy = true;
            } else {
                sent.peers += 1;
                sent.bytes = frame.len();
            }
        }
        queue(record);
        drop(states);
        (sent.peers > 0).then_some(sent)
    }

    /// Marks every link busy (a transaction's unit goes only through the tasks) and runs `queue`
    /// while they are locked.
    pub(crate) fn queue_only(&self, queue: impl FnOnce()) {
        let links = self.links();
        let mut states: Vec<_> = links.iter().map(|o| o.state()).collect();
        for state in states.iter_mut() {
            state.busy = true;
        }
        queue();
    }
}

/// Writes `record`'s push frame (encoded into `frame` once, on first use) to an idle link without
/// waiting; false if the link cannot take it here (no socket, or the write failed at once).
fn write(state: &mut OutboxState, record: &Record, frame: &mut BytesMut) -> bool {
    let Some(socket) = &mut state.socket else { return false };
    if frame.is_empty() {
        let message = Outgoing::Entries { entries: vec![record.clone()] };
        if frame_into(&message, frame).is_err() {
            frame.clear();
            return false;
        }
    }
    // The descriptor is non-blocking (tokio set it so): a full socket takes part or none.
    let written = match socket.write(frame) {
        Ok(n) => n,
        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => 0,
        Err(_) => return false,
    };
    if written == 0 {
        return false;
    }
    state.remainder.extend_from_slice(&frame[written..]);
    state.busy = !state.remainder.is_empty();
    state.inline_upto = record.seq();
    true
}

#[cfg(all(test, not(feature = "sim")))]
mod tests {
    use super::*;
    use kvs_proto::{NodeId, PeerMessage, Version};
    use tokio::io::AsyncReadExt;

    fn record(seq: u64, value: &[u8]) -> Record {
        Record::new(
            format!("key{seq}").as_bytes(),
            Some(value),
            Version { wall_ms: seq, logical: 0, node: NodeId(1) },
            seq,
        )
    }

    /// Every frame in `bytes`, decoded, in order; fails on a torn or interleaved one.
    fn frames(mut bytes: &[u8]) -> Vec<u64> {
        let mut seqs = Vec::new();
        while !bytes.is_empty() {
            let len = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
            let message: PeerMessage<Record> = kvs_proto::encoding::decode(&bytes[4..4 + len]).unwrap();
            let PeerMessage::Entries { entries } = message else { panic!("not a push") };
            seqs.extend(entries.iter().map(Record::seq));
            bytes = &bytes[4 + len..];
        }
        seqs
    }

    // One test, not several: passes are counted process-wide.
    #[tokio::test]
    async fn sessions_write_whole_frames_in_order_and_leave_the_rest_to_the_task() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dialed = tokio::net::TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (mut peer, _) = listener.accept().await.unwrap();
        let stream: net::Stream = net::Stream::Left(dialed);
        let (outboxes, outbox) = (Outboxes::default(), Arc::new(Outbox::default()));
        let _open = outboxes.open(&outbox, &stream);

        // Until the task has drained its queue once, it may hold pushes: sessions keep off.
        new_pass();
        assert!(outboxes.push(record(1, b"v"), drop).is_none());
        outbox.end_write(|| true);

        // The first write of a pass goes from the session; the next of the same pass does not.
        new_pass();
        assert!(outboxes.push(record(2, b"v"), drop).is_some());
        assert!(outbox.written(&record(2, b"v")));
        assert!(outboxes.push(record(3, b"v"), drop).is_none());
        assert!(!outbox.written(&record(3, b"v")));
        assert!(outbox.begin_write().is_empty());
        outbox.end_write(|| true);

        // Large writes until the socket takes only part of one (however large its buffers are).
        let value = vec![b'x'; 256 * 1024];
        let mut seq = 3;
        while outbox.state().remainder.is_empty() {
            seq += 1;
            new_pass();
            assert!(outboxes.push(record(seq, &value), drop).is_some(), "an idle link was not written to");
            assert!(seq < 10_000, "the socket never filled");
        }
        // An unfinished frame keeps sessions off, whatever the task's queue says.
        outbox.end_write(|| true);
        new_pass();
        assert!(outboxes.push(record(seq + 1, b"v"), drop).is_none());

        // The task finishes the frame before anything else: the peer reads whole frames, in order.
        let remainder = outbox.begin_write();
        assert!(!remainder.is_empty());
        let reader = tokio::spawn(async move {
            let mut read = Vec::new();
            let mut buffer = vec![0; 1 << 20];
            while frames_complete(&read) != Some(seq - 2) {
                let n = peer.read(&mut buffer).await.unwrap();
                assert!(n > 0, "the link closed early");
                read.extend_from_slice(&buffer[..n]);
            }
            read
        });
        let net::Stream::Left(mut tcp) = stream else { unreachable!() };
        tokio::io::AsyncWriteExt::write_all(&mut tcp, &remainder).await.unwrap();
        let read = tokio::time::timeout(std::time::Duration::from_secs(20), reader)
            .await
            .expect("frames never completed")
            .unwrap();
        assert_eq!(frames(&read), (2..=seq).filter(|s| *s != 3).collect::<Vec<_>>());
    }

    /// How many whole frames `bytes` holds, if it ends on a frame boundary.
    fn frames_complete(mut bytes: &[u8]) -> Option<u64> {
        let mut count = 0;
        while bytes.len() >= 4 {
            let len = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
            if bytes.len() < 4 + len {
                return None;
            }
            bytes = &bytes[4 + len..];
            count += 1;
        }
        bytes.is_empty().then_some(count)
    }
}
