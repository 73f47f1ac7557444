//! `kvs-client cluster plan | apply`: the layout of slot owners an operator proposes, what it
//! moves, and applying it.

use clap::{Args, Subcommand};
use kvs_client::{Client, ClientError, ClusterPlan, Layout, LayoutChange};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::ExitCode;

/// What `cluster` does.
#[derive(Subcommand)]
pub enum ClusterCommand {
    /// Show the layout a change would make of the members alive now, and the slots each member
    /// would gain and lose; nothing changes.
    Plan(ChangeArgs),
    /// Make that layout the cluster's: this node applies it and every member adopts it (admin).
    Apply(ChangeArgs),
}

/// The change asked for.
#[derive(Args)]
pub struct ChangeArgs {
    /// How many members own each slot (default: the current layout's; with none, every member).
    #[arg(long, value_name = "N")]
    replication_factor: Option<u32>,
    /// A member's weight, by the address it serves at (`host:port=W`, 1 to 64; repeat for
    /// several): its share of slots against the others'.
    #[arg(long = "weight", value_name = "ADDR=W", value_parser = parse_weight)]
    weights: Vec<(SocketAddr, u32)>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

fn parse_weight(text: &str) -> Result<(SocketAddr, u32), String> {
    let (addr, weight) = text.rsplit_once('=').ok_or("expected ADDR=W")?;
    let addr = addr.parse().map_err(|e| format!("'{addr}' is not host:port: {e}"))?;
    let weight = weight.parse().map_err(|e| format!("'{weight}' is not a weight: {e}"))?;
    Ok((addr, weight))
}

/// Runs a plan or an apply and prints it.
pub async fn run(mut client: Client, command: ClusterCommand) -> Result<ExitCode, ClientError> {
    let (apply, args) = match command {
        ClusterCommand::Plan(args) => (false, args),
        ClusterCommand::Apply(args) => (true, args),
    };
    let change = LayoutChange { replication_factor: args.replication_factor, weights: args.weights };
    let plan = if apply { client.cluster_apply(change).await? } else { client.cluster_plan(change).await? };
    if args.json {
        println!("{}", as_json(&plan));
    } else {
        print!("{}", as_text(&plan, apply));
    }
    Ok(ExitCode::SUCCESS)
}

fn factor(layout: &Layout) -> String {
    match layout.replication_factor as usize >= layout.members.len() {
        true => format!("all ({})", layout.members.len()),
        false => layout.replication_factor.to_string(),
    }
}

fn as_text(plan: &ClusterPlan, applied: bool) -> String {
    let mut out = String::new();
    match &plan.current {
        Some(layout) => out.push_str(&format!(
            "current layout: epoch {} (applied by {}), replication factor {}, {} members\n",
            layout.version.epoch,
            layout.version.applied_by,
            factor(layout),
            layout.members.len()
        )),
        None => out.push_str("current layout: none (every member owns every slot)\n"),
    }
    let proposed = &plan.proposed;
    out.push_str(&format!(
        "{} layout: epoch {}, replication factor {}, {} members\n",
        if applied { "applied" } else { "proposed" },
        proposed.version.epoch,
        factor(proposed),
        proposed.members.len()
    ));
    let members: HashMap<_, _> = proposed.members.iter().map(|m| (m.node, m)).collect();
    out.push_str(
        "member            address                weight  slots before  after  gains  loses  keys before      after  bytes before       after\n",
    );
    for moves in &plan.moves {
        let (addr, weight) = match members.get(&moves.node) {
            Some(m) => (m.addr.to_string(), m.weight.to_string()),
            None => ("(leaves)".to_string(), "-".to_string()),
        };
        out.push_str(&format!(
            "{}  {addr:<21}  {weight:>6}  {:>12}  {:>5}  {:>5}  {:>5}  {:>11}  {:>9}  {:>12}  {:>10}\n",
            moves.node,
            moves.before,
            moves.after,
            moves.gains,
            moves.loses,
            moves.keys_before,
            moves.keys_after,
            moves.bytes_before,
            moves.bytes_after
        ));
    }
    out
}

fn as_json(plan: &ClusterPlan) -> String {
    let layout = |layout: &Layout| {
        serde_json::json!({
            "epoch": layout.version.epoch,
            "applied_by": layout.version.applied_by.to_string(),
            "replication_factor": layout.replication_factor,
            "members": layout.members.iter().map(|m| serde_json::json!({
                "node": m.node.to_string(), "addr": m.addr.to_string(), "weight": m.weight,
            })).collect::<Vec<_>>(),
        })
    };
    serde_json::json!({
        "current": plan.current.as_ref().map(layout),
        "proposed": layout(&plan.proposed),
        "moves": plan.moves.iter().map(|m| serde_json::json!({
            "node": m.node.to_string(), "before": m.before, "after": m.after, "gains": m.gains, "loses": m.loses,
            "keys_before": m.keys_before, "keys_after": m.keys_after,
            "bytes_before": m.bytes_before, "bytes_after": m.bytes_after,
        })).collect::<Vec<_>>(),
    })
    .to_string()
}
