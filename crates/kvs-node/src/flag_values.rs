//! Flag values as people write them: durations (`500ms`, `24h`), sizes (`64KiB`), yes/no.

/// A duration flag's value: a number of milliseconds, or a duration with units (`500ms`, `6s`,
/// `24h`, `1day`).
pub(crate) fn parse_ms(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(ms) => Ok(ms),
        Err(_) => humantime::parse_duration(text)
            .map(|duration| duration.as_millis().try_into().unwrap_or(u64::MAX))
            .map_err(|e| format!("{e} (a number of ms, or e.g. 500ms, 6s, 24h)")),
    }
}

/// A yes/no flag's value, as Redis writes them (`yes`, `no`).
pub(crate) fn parse_yes_no(text: &str) -> Result<bool, String> {
    match text {
        "yes" => Ok(true),
        "no" => Ok(false),
        other => Err(format!("'{other}' is neither yes nor no")),
    }
}

/// A size flag's value: a number of bytes, or a size with units (`64KiB`, `16MiB`, `1GB`).
pub(crate) fn parse_bytes(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(bytes) => Ok(bytes),
        Err(_) => text
            .parse::<bytesize::ByteSize>()
            .map(|size| size.as_u64())
            .map_err(|e| format!("{e} (a number of bytes, or e.g. 64KiB, 16MiB)")),
    }
}

/// A memory size as Redis's configuration writes it (`1k` is 1,000 bytes, `1kb` 1,024, and so
/// on for `m`/`mb` and `g`/`gb`, in any case), or as [`parse_bytes`] reads it (`64KiB`).
pub(crate) fn parse_memory(text: &str) -> Result<u64, String> {
    let lower = text.to_ascii_lowercase();
    let units: [(&str, u64); 6] =
        [("kb", 1 << 10), ("mb", 1 << 20), ("gb", 1 << 30), ("k", 1_000), ("m", 1_000_000), ("g", 1_000_000_000)];
    for (suffix, unit) in units {
        if let Some(number) = lower.strip_suffix(suffix).and_then(|n| n.parse::<u64>().ok()) {
            return number.checked_mul(unit).ok_or_else(|| format!("{text} is too large"));
        }
    }
    parse_bytes(text)
}

/// [`parse_bytes`] for a size held in memory.
pub(crate) fn parse_size(text: &str) -> Result<usize, String> {
    parse_bytes(text)?.try_into().map_err(|_| format!("{text} is larger than this machine can address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes_take_plain_numbers_or_units() {
        assert_eq!(parse_ms("6000"), Ok(6_000));
        assert_eq!(parse_ms("500ms"), Ok(500));
        assert_eq!(parse_ms("24h"), Ok(86_400_000));
        assert!(parse_ms("soon").is_err());
        assert_eq!(parse_bytes("65536"), Ok(65_536));
        assert_eq!(parse_bytes("64KiB"), Ok(65_536));
        assert_eq!(parse_size("16MiB"), Ok(16 * 1024 * 1024));
        assert_eq!((parse_memory("1kb"), parse_memory("1K"), parse_memory("2mb")), (Ok(1024), Ok(1000), Ok(2 << 20)));
        assert_eq!((parse_memory("100"), parse_memory("1MiB")), (Ok(100), Ok(1 << 20)));
        assert!(parse_bytes("lots").is_err());
        assert_eq!((parse_yes_no("yes"), parse_yes_no("no")), (Ok(true), Ok(false)));
        assert!(parse_yes_no("maybe").is_err());
    }
}
