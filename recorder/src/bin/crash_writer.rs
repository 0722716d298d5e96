//! Test helper for `tests/crash.rs`: opens `DIR` for appending, prints
//! `recovered NEXT_SEQ TORN_BYTES LOST_BYTES`, then appends deterministic events and prints
//! each committed sequence number on its own line, flushed, until killed or `COUNT` is reached.
//!
//! Usage: `orderflow-recorder-crash-writer DIR COUNT SEGMENT_BYTES`

use std::io::Write;

use orderflow_core::SymbolTable;
use orderflow_recorder::{LogWriter, WriterConfig};

#[path = "../../tests/common/crash_events.rs"]
mod crash_events;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or("missing DIR")?;
    let count: u64 = args.next().ok_or("missing COUNT")?.parse()?;
    let segment_bytes: u64 = args.next().ok_or("missing SEGMENT_BYTES")?.parse()?;
    let mut symbols = SymbolTable::new();
    symbols.intern(b"BTCUSDT")?;
    let config = WriterConfig::new(symbols).with_segment_bytes(segment_bytes);
    let mut writer = LogWriter::open(&dir, config)?;
    let recovery = writer.recovery();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "recovered {} {} {}",
        recovery.next_seq, recovery.torn_tail_bytes, recovery.lost_committed_bytes
    )?;
    out.flush()?;
    let start = writer.next_seq();
    for seq in start..start + count {
        let receipt = writer.append(&crash_events::crash_event(seq))?;
        writeln!(out, "{}", receipt.seq)?;
        out.flush()?;
    }
    writer.close()?;
    Ok(())
}
