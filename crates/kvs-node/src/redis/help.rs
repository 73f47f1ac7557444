//! The `HELP` subcommand every container command has, and the error that points to it.

use super::Call;

/// Answers `<COMMAND> HELP` with `lines` (each subcommand, then its description indented), as
/// Redis lays them out.
pub fn reply(call: &mut Call<'_, '_>, command: &str, lines: &[&str]) {
    call.reply.array(lines.len() + 3);
    call.reply.simple(&format!("{command} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"));
    for line in lines {
        call.reply.simple(line);
    }
    call.reply.simple("HELP");
    call.reply.simple("    Print this help.");
}

/// Redis's answer to a subcommand `command` does not have, or has with other arguments.
pub fn unknown_subcommand(call: &mut Call<'_, '_>, command: &str) {
    let sub = String::from_utf8_lossy(call.args.get(1)).into_owned();
    let sub: String = sub.chars().take(128).collect();
    call.reply.error(&format!("ERR unknown subcommand or wrong number of arguments for '{sub}'. Try {command} HELP."));
}
