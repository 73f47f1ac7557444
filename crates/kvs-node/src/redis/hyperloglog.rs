//! PFADD, PFCOUNT, PFMERGE and PFDEBUG GETREG: HyperLogLogs whose registers merge by maximum.
//!
//! A HyperLogLog is a conflict-free type with nothing to decide: PFADDs made on every node at
//! once all count, because each register keeps the highest value any node gave it. A PFADD
//! replicates only the registers it raised ([`kvs_store::local::Local::hll_add`]). To a reader it
//! is a Redis string (GET returns Redis's dense encoding, TYPE says `string`), and a string in
//! Redis's encoding (dense or sparse) is taken as a HyperLogLog by every PF command.
//!
//! The writes are behind the cluster feature gate `hyperloglog`: a HyperLogLog record is a kind
//! protocol 8 cannot decode.

use super::Call;
use kvs_proto::features::HYPERLOGLOG;
use kvs_store::hll::{position, Registers, REGISTERS};
use kvs_store::local::{registers_of, Decision, HllError};

/// Redis's answer to a PF command on a value that is not a HyperLogLog.
const NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";

/// Whether the gate is open; otherwise answers the error.
fn gate_open(call: &mut Call<'_, '_>, command: &str) -> bool {
    let core = &call.shell.core;
    if core.is_open(HYPERLOGLOG) {
        return true;
    }
    let message = format!("ERR {}", HYPERLOGLOG.closed_message(command, core.cluster_version()));
    call.reply.error(&message);
    false
}

/// The union of the HyperLogLogs at `keys` (a missing key counts as empty).
fn union(call: &Call<'_, '_>, keys: impl Iterator<Item = usize>) -> Result<Registers, HllError> {
    let now_ms = call.now_ms();
    let mut union = Registers::default();
    for at in keys {
        if let Some(record) = call.shell.store().get_live(call.args.get(at), now_ms) {
            union.merge(&registers_of(&record)?);
        }
    }
    Ok(union)
}

/// Raises the HyperLogLog at `key` to `add`: whether it changed, or `None` once an error is
/// answered.
fn add_to(call: &mut Call<'_, '_>, key: &[u8], add: &Registers) -> Option<bool> {
    let result = call.update(key, |local| match local.hll_add(add) {
        Ok((Some(record), changed)) => Decision::Write(record, Ok(changed)),
        Ok((None, changed)) => Decision::Keep(Ok(changed)),
        Err(error) => Decision::Keep(Err(error)),
    })?;
    match result {
        Ok(changed) => Some(changed),
        Err(HllError::NotHll) => {
            call.reply.error(NOT_HLL);
            None
        }
    }
}

/// `PFADD key [element ...]`
pub fn pfadd(call: &mut Call<'_, '_>) {
    let key = call.args.get(1);
    if !gate_open(call, "PFADD") || !call.within_bounds(key, None) {
        return;
    }
    let mut add = Registers::default();
    for at in 2..call.args.len() {
        let (index, value) = position(call.args.get(at));
        add.raise(index, value);
    }
    if let Some(changed) = add_to(call, key, &add) {
        call.reply.integer(changed as i64);
    }
}

/// `PFCOUNT key [key ...]`: the estimated size of the union.
pub fn pfcount(call: &mut Call<'_, '_>) {
    match union(call, 1..call.args.len()) {
        Ok(union) => call.reply.integer(union.count() as i64),
        Err(HllError::NotHll) => call.reply.error(NOT_HLL),
    }
}

/// `PFMERGE destkey [sourcekey ...]`: the destination raised to the union of all of them.
pub fn pfmerge(call: &mut Call<'_, '_>) {
    let key = call.args.get(1);
    if !gate_open(call, "PFMERGE") || !call.within_bounds(key, None) {
        return;
    }
    let sources = match union(call, 2..call.args.len()) {
        Ok(sources) => sources,
        Err(HllError::NotHll) => return call.reply.error(NOT_HLL),
    };
    if add_to(call, key, &sources).is_some() {
        call.reply.simple("OK");
    }
}

/// `PFDEBUG GETREG key`: every register's value (Redis's debugging aid, which its tests use).
pub fn pfdebug(call: &mut Call<'_, '_>) {
    if !call.args.get(1).eq_ignore_ascii_case(b"GETREG") {
        return call.reply.error("ERR Unknown PFDEBUG subcommand (kvs answers GETREG only)");
    }
    let registers = match union(call, 2..3) {
        Ok(registers) => registers,
        Err(HllError::NotHll) => return call.reply.error(NOT_HLL),
    };
    let mut values = [0u8; REGISTERS];
    for (index, value) in registers.set() {
        values[index] = value;
    }
    call.reply.array(REGISTERS);
    for value in values {
        call.reply.integer(value as i64);
    }
}
