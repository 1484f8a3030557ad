//! Where one reply ends in bytes read without waiting: the inline tier
//! reads whatever has arrived, which may end mid-reply, and hands redis-rs
//! only complete replies to decode. RESP2 only (the store never asks for
//! RESP3); anything else is garbage.

use redis::Value;

use super::super::conn::Failure;

/// Nesting deeper than this is garbage: the store's replies nest once.
const MAX_DEPTH: usize = 4;
/// Bytes buffered without one complete reply: more is garbage (a
/// session is a few kilobytes; a lookup reads at most a few of them).
const MAX_BUFFERED: usize = 4 << 20;

/// Takes the first complete reply off the front of `input`; None when it
/// has not all arrived yet.
pub fn next_reply(input: &mut Vec<u8>) -> Result<Option<Value>, Failure> {
    let Some(len) = reply_len(input)? else {
        return if input.len() > MAX_BUFFERED { Err(Failure::Protocol) } else { Ok(None) };
    };
    let value = redis::parse_redis_value(&input[..len]).map_err(|_| Failure::Protocol)?;
    input.drain(..len);
    Ok(Some(value))
}

/// The length of the first complete reply in `buf`, None if incomplete.
pub fn reply_len(buf: &[u8]) -> Result<Option<usize>, Failure> {
    reply_end(buf, 0, 0)
}

/// Where the reply that starts at `at` ends.
fn reply_end(buf: &[u8], at: usize, depth: usize) -> Result<Option<usize>, Failure> {
    let Some((&kind, _)) = buf.get(at..).and_then(<[u8]>::split_first) else { return Ok(None) };
    let Some((line, next)) = line_at(buf, at + 1)? else { return Ok(None) };
    match kind {
        b'+' | b'-' => Ok(Some(next)),
        b':' => number(line).map(|_| Some(next)),
        b'$' => match number(line)? {
            -1 => Ok(Some(next)),
            n if n >= 0 => bulk_end(buf, next, n as usize),
            _ => Err(Failure::Protocol),
        },
        b'*' => match number(line)? {
            -1 => Ok(Some(next)),
            n if n >= 0 && depth < MAX_DEPTH => {
                let mut end = next;
                for _ in 0..n {
                    let Some(after) = reply_end(buf, end, depth + 1)? else { return Ok(None) };
                    end = after;
                }
                Ok(Some(end))
            }
            _ => Err(Failure::Protocol),
        },
        _ => Err(Failure::Protocol),
    }
}

/// A bulk string's `len` bytes at `at` and their CRLF.
fn bulk_end(buf: &[u8], at: usize, len: usize) -> Result<Option<usize>, Failure> {
    if len > MAX_BUFFERED {
        return Err(Failure::Protocol);
    }
    match buf.get(at + len..at + len + 2) {
        None => Ok(None),
        Some(b"\r\n") => Ok(Some(at + len + 2)),
        Some(_) => Err(Failure::Protocol),
    }
}

/// The line that starts at `at` (without its CRLF) and where the next
/// begins.
fn line_at(buf: &[u8], at: usize) -> Result<Option<(&[u8], usize)>, Failure> {
    let rest = buf.get(at..).unwrap_or_default();
    match rest.windows(2).position(|w| w == b"\r\n") {
        Some(end) => Ok(Some((&rest[..end], at + end + 2))),
        // A line that long is no reply of Redis's.
        None if rest.len() > 64 * 1024 => Err(Failure::Protocol),
        None => Ok(None),
    }
}

fn number(line: &[u8]) -> Result<i64, Failure> {
    std::str::from_utf8(line).ok().and_then(|s| s.parse().ok()).ok_or(Failure::Protocol)
}
