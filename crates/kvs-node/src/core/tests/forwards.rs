//! Forwarded Redis commands (docs/partitioning.md, "Forwarding for plain clients"): the core
//! hands an answer to its waiting client only if it comes from the member the command went to,
//! once; and a command a member forwards is handed to the shell to run, whoever sent it.

use super::*;
use crate::core::forwards_asked::MAX_FORWARDS_IN_FLIGHT;
use bytes::Bytes;
use kvs_proto::peer::ForwardedCommand;
use std::sync::atomic::Ordering;

fn command(text: &str) -> ForwardedCommand {
    let args: Vec<&str> = text.split(' ').collect();
    let mut resp = format!("*{}\r\n", args.len());
    for arg in args {
        resp.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    ForwardedCommand { user: "default".into(), db: 0, resp3: false, asking: false, command: resp.into() }
}

fn answer(id: u64, reply: &str) -> PeerMessage<Record> {
    over_the_wire(&Outgoing::Forwarded { id, reply: Bytes::from(reply.to_string()) })
}

/// A forward of `command` by `core` to `to`: its id and the message it would send.
fn forward(core: &Core, to: u64, command: ForwardedCommand) -> Option<(u64, Outgoing)> {
    let mut sent = None;
    let id = core.forward(NodeId(to), command, |_, message| sent = Some(message))?;
    Some((id, sent.expect("a message to send")))
}

fn answered(effects: &[Effect]) -> Option<(u64, Bytes)> {
    effects.iter().find_map(|effect| match effect {
        Effect::ForwardAnswered { id, reply } => Some((*id, reply.clone())),
        _ => None,
    })
}

#[test]
fn an_answer_is_taken_from_the_member_asked_and_only_once() {
    let (a, now) = (core(1), at(Instant::now(), 0));
    let (id, message) = forward(&a, 2, command("GET k")).unwrap();
    assert!(matches!(message, Outgoing::Forward { id: sent, .. } if sent == id));

    let effects = a.receive(peer(2), answer(id, "$1\r\nv\r\n"), now);
    assert_eq!(answered(&effects), Some((id, Bytes::from_static(b"$1\r\nv\r\n"))));
    let again = a.receive(peer(2), answer(id, "$1\r\nw\r\n"), now);
    assert_eq!(answered(&again), None, "a second answer is refused");
    assert_eq!(a.stats().peer_messages_refused.load(Ordering::Relaxed), 1);
}

#[test]
fn an_answer_from_another_member_is_refused_and_the_forward_still_waits() {
    let (a, now) = (core(1), at(Instant::now(), 0));
    let (id, _) = forward(&a, 2, command("SET k v")).unwrap();
    let forged = a.receive(peer(3), answer(id, "+OK\r\n"), now);
    assert_eq!(answered(&forged), None, "node 3 was not asked");
    assert_eq!(a.receive(peer(2), answer(id + 1, "+OK\r\n"), now).len(), 0, "nor was any id not sent");
    let effects = a.receive(peer(2), answer(id, "+OK\r\n"), now);
    assert_eq!(answered(&effects), Some((id, Bytes::from_static(b"+OK\r\n"))));
}

#[test]
fn a_forward_given_up_on_refuses_its_late_answer() {
    let (a, now) = (core(1), at(Instant::now(), 0));
    let (id, _) = forward(&a, 2, command("GET k")).unwrap();
    a.forward_ended(id);
    assert_eq!(answered(&a.receive(peer(2), answer(id, "$-1\r\n"), now)), None);
}

#[test]
fn forwards_awaiting_answers_are_bounded() {
    let a = core(1);
    for _ in 0..MAX_FORWARDS_IN_FLIGHT {
        assert!(forward(&a, 2, command("GET k")).is_some());
    }
    assert!(forward(&a, 2, command("GET k")).is_none(), "one more than the bound is refused");
    a.forward_ended(1);
    assert!(forward(&a, 2, command("GET k")).is_some(), "an ended forward makes room");
}

#[test]
fn a_forwarded_command_is_handed_to_the_shell_with_its_sender() {
    let (b, now) = (core(2), at(Instant::now(), 0));
    let sent = over_the_wire(&Outgoing::Forward { id: 7, command: command("INCR n") });
    let effects = b.receive(peer(1), sent, now);
    let run = effects.iter().find_map(|effect| match effect {
        Effect::RunForwarded { from, id, command } => Some((*from, *id, command.clone())),
        _ => None,
    });
    assert_eq!(run, Some((NodeId(1), 7, command("INCR n"))));
}

#[test]
fn a_forward_delivered_twice_runs_once_and_a_new_run_of_its_sender_starts_over() {
    let (b, now) = (core(2), at(Instant::now(), 0));
    let forward = |id| over_the_wire(&Outgoing::Forward { id, command: command("LPUSH l e") });
    let runs = |effects: &[Effect]| effects.iter().filter(|e| matches!(e, Effect::RunForwarded { .. })).count();
    assert_eq!(runs(&b.receive(peer(1), forward(1), now)), 1);
    assert_eq!(runs(&b.receive(peer(1), forward(1), now)), 0, "the duplicate is not run");
    assert_eq!(runs(&b.receive(peer(1), forward(2), now)), 1);
    // The sender restarted: its run (origin) is new, and its ids start over.
    let restarted = Peer { id: NodeId(1), origin: NodeId(101) };
    assert_eq!(runs(&b.receive(restarted, forward(1), now)), 1);
}
