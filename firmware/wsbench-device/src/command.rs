//! Control commands: text frames starting with `!`, answered to the sender.
//!
//! Grammar (one space between words; nothing else on the line):
//!
//! ```text
//! !stats                               -> JSON: {"uptime_ms":..,"clients":..,"max_clients":..,
//!                                         "rx_frames":..,"tx_frames":..,"free_heap":..,
//!                                         "min_free_heap":..,"heap_source":"modelled"|"allocator",
//!                                         "purged":..,"refused":..,"dropped":..}
//! !time                                -> time t_us=<device µs since boot>
//! !burst <count> <size> <interval_ms>  -> !burst started id=<id> count=.. size=.. interval_ms=..
//!                                         then <count> text frames to every session, each
//!                                         "burst id=<id> seq=<n> count=<count> t_us=<µs> "
//!                                         padded with '.' to exactly <size> bytes; seq 1..=count
//!     count       1..=10000
//!     size        BURST_MIN_SIZE (80)..=max_message_len
//!     interval_ms 0..=60000 (0 = back to back)
//! !bcast <text>                        -> <text> (everything after "!bcast ") to every session
//! !close <code>                        -> the device closes this session with <code>
//!     code        1000..=1003 | 1007..=1011 | 3000..=4999
//! anything else starting with '!'      -> !error <reason>
//! ```

use alloc::string::String;
use core::fmt;

/// Smallest `!burst` frame size: the longest possible frame header
/// (`burst id=4294967295 seq=10000 count=10000 t_us=18446744073709551615 `, 68 bytes)
/// rounded up, so every frame has the same size whatever its numbers.
pub const BURST_MIN_SIZE: usize = 80;
/// Most frames one `!burst` may ask for.
pub const BURST_MAX_COUNT: u32 = 10_000;
/// Longest pause between two frames of a burst.
pub const BURST_MAX_INTERVAL_MS: u32 = 60_000;

/// A parsed control command. It borrows from the message: `!bcast` text can be as long
/// as a message, and the device frames it in the message's own buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// `!stats`
    Stats,
    /// `!time`
    Time,
    /// `!burst <count> <size> <interval_ms>`
    Burst {
        /// Frames to send to every session.
        count: u32,
        /// Bytes per frame.
        size: usize,
        /// Pause between two frames.
        interval_ms: u32,
    },
    /// `!bcast <text>`: the text, a suffix of the parsed message.
    Broadcast(&'a str),
    /// `!close <code>`
    Close(u16),
}

/// Why a command was rejected; its `Display` is the reason in `!error <reason>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandError {
    /// The word after `!` is no command.
    Unknown(String),
    /// A command got the wrong number of arguments.
    Usage(&'static str),
    /// An argument is not a number or out of its range.
    OutOfRange {
        /// The argument's name in the grammar.
        what: &'static str,
        /// The smallest accepted value.
        min: u64,
        /// The largest accepted value.
        max: u64,
    },
    /// `!close` with a code a server may not send.
    BadCloseCode(String),
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Unknown(word) => write!(
                f,
                "unknown command '!{word}'; try !stats, !time, !burst, !bcast, !close"
            ),
            CommandError::Usage(usage) => write!(f, "usage: {usage}"),
            CommandError::OutOfRange { what, min, max } => {
                write!(f, "{what} must be a number from {min} to {max}")
            }
            CommandError::BadCloseCode(code) => write!(
                f,
                "close code '{code}' not allowed; use 1000-1003, 1007-1011 or 3000-4999"
            ),
        }
    }
}

/// True for a text message that is a command (and must not be echoed).
pub fn is_command(text: &str) -> bool {
    text.starts_with('!')
}

/// True for close codes an endpoint may send in a CLOSE frame (RFC 6455 7.4).
pub fn is_valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999)
}

/// Parse a command message (`text` starts with `!`). `max_message_len` bounds `!burst`'s
/// size.
pub fn parse(text: &str, max_message_len: usize) -> Result<Command<'_>, CommandError> {
    let body = text.strip_prefix('!').unwrap_or(text);
    let (name, rest) = match body.split_once(' ') {
        Some((name, rest)) => (name, Some(rest)),
        None => (body, None),
    };
    match name {
        "stats" => no_args(rest, "!stats").map(|()| Command::Stats),
        "time" => no_args(rest, "!time").map(|()| Command::Time),
        "bcast" => match rest {
            Some(text) if !text.is_empty() => Ok(Command::Broadcast(text)),
            _ => Err(CommandError::Usage("!bcast <text>")),
        },
        "close" => {
            const USAGE: &str = "!close <code>";
            let [code] = args::<1>(rest, USAGE)?;
            match code.parse::<u16>() {
                Ok(c) if is_valid_close_code(c) => Ok(Command::Close(c)),
                _ => Err(CommandError::BadCloseCode(excerpt(code))),
            }
        }
        "burst" => {
            const USAGE: &str = "!burst <count> <size> <interval_ms>";
            let [count, size, interval] = args::<3>(rest, USAGE)?;
            let max_size = max_message_len.max(BURST_MIN_SIZE);
            Ok(Command::Burst {
                count: number(count, "count", 1, u64::from(BURST_MAX_COUNT))? as u32,
                size: number(size, "size", BURST_MIN_SIZE as u64, max_size as u64)? as usize,
                interval_ms: number(interval, "interval_ms", 0, u64::from(BURST_MAX_INTERVAL_MS))?
                    as u32,
            })
        }
        other => Err(CommandError::Unknown(excerpt(other))),
    }
}

/// Longest piece of a peer's word quoted back in an error.
const EXCERPT_LEN: usize = 32;

/// The start of `word` for an error message: a word is as long as a peer's message
/// allows, and echoing all of it back would copy a peer-sized buffer (twice) for an error.
fn excerpt(word: &str) -> String {
    if word.len() <= EXCERPT_LEN {
        return String::from(word);
    }
    let mut end = EXCERPT_LEN;
    while !word.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = String::from(&word[..end]);
    out.push_str("...");
    out
}

fn no_args(rest: Option<&str>, usage: &'static str) -> Result<(), CommandError> {
    match rest {
        None => Ok(()),
        Some(_) => Err(CommandError::Usage(usage)),
    }
}

fn args<'a, const N: usize>(
    rest: Option<&'a str>,
    usage: &'static str,
) -> Result<[&'a str; N], CommandError> {
    let mut out = [""; N];
    let mut words = rest.unwrap_or("").split(' ');
    for slot in out.iter_mut() {
        match words.next() {
            Some(word) if !word.is_empty() => *slot = word,
            _ => return Err(CommandError::Usage(usage)),
        }
    }
    if words.next().is_some() {
        return Err(CommandError::Usage(usage));
    }
    Ok(out)
}

fn number(word: &str, what: &'static str, min: u64, max: u64) -> Result<u64, CommandError> {
    match word.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(CommandError::OutOfRange { what, min, max }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn accepts_every_command_of_the_grammar() {
        assert_eq!(parse("!stats", 16384), Ok(Command::Stats));
        assert_eq!(parse("!time", 16384), Ok(Command::Time));
        assert_eq!(
            parse("!burst 10 100 5", 16384),
            Ok(Command::Burst {
                count: 10,
                size: 100,
                interval_ms: 5
            })
        );
        assert_eq!(
            parse("!bcast hello there", 16384),
            Ok(Command::Broadcast("hello there"))
        );
        assert_eq!(parse("!close 4000", 16384), Ok(Command::Close(4000)));
    }

    #[test]
    fn rejects_bad_commands_with_a_reason() {
        assert!(matches!(parse("!nope", 100), Err(CommandError::Unknown(_))));
        assert!(matches!(
            parse("!stats now", 100),
            Err(CommandError::Usage(_))
        ));
        assert!(matches!(parse("!bcast", 100), Err(CommandError::Usage(_))));
        assert!(matches!(
            parse("!burst 1 2", 16384),
            Err(CommandError::Usage(_))
        ));
        assert!(matches!(
            parse("!burst 1 2 3 4", 16384),
            Err(CommandError::Usage(_))
        ));
        let err = parse("!burst 0 100 1", 16384).unwrap_err();
        assert_eq!(err.to_string(), "count must be a number from 1 to 10000");
        assert!(parse("!burst 1 79 1", 16384).is_err());
        assert!(parse("!burst 1 16385 1", 16384).is_err());
        assert!(parse("!burst 1 100 60001", 16384).is_err());
        assert!(parse("!burst -1 100 1", 16384).is_err());
        assert!(matches!(
            parse("!close 1005", 100),
            Err(CommandError::BadCloseCode(_))
        ));
        assert!(parse("!close abc", 100).is_err());
    }

    #[test]
    fn errors_quote_at_most_the_start_of_a_long_word() {
        let long = alloc::format!("!{}", "é".repeat(5000));
        let err = parse(&long, 16384).unwrap_err().to_string();
        assert!(err.starts_with("unknown command '!éééé"), "{err}");
        assert!(err.contains("...'"), "{err}");
        assert!(err.len() < 120, "{err}");
        let err = parse(&alloc::format!("!close {}", "9".repeat(5000)), 16384).unwrap_err();
        assert!(err.to_string().len() < 120, "{err}");
    }
}
