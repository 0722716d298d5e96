//! `--emit events`: one JSON line per venue message, with Binance's own field names.
//!
//! Decimals are written as exact strings from the fixed-point values (trailing zeros dropped),
//! so `"61800.20"` in the input appears as `"61800.2"`: the same number, never a float.

use std::io::{self, Write};

use orderflow_core::{Body, Event, EventKind, Level, UNDEF_TIME};
use orderflow_replay::Message;

/// Writes every venue message of `message` (a depth message is its header plus its levels, up to
/// the record flagged LAST) and counts them per kind.
pub(crate) fn write_messages(
    out: &mut impl Write,
    message: Message<'_>,
    per_kind: &mut [u64; EventKind::ALL.len()],
) -> io::Result<()> {
    let mut rest = message.events;
    while let Some(first) = rest.first() {
        let end = rest
            .iter()
            .position(Event::is_last)
            .map_or(rest.len(), |i| i + 1);
        let (venue_message, tail) = rest.split_at(end);
        rest = tail;
        per_kind[first.kind() as usize] += 1;
        write_message(out, message.symbols.name(first.symbol), venue_message)?;
    }
    Ok(())
}

fn write_message(out: &mut impl Write, symbol: &str, events: &[Event]) -> io::Result<()> {
    let Some(head) = events.first() else {
        return Ok(());
    };
    write!(
        out,
        r#"{{"kind":"{}","symbol":"{symbol}","recv_ns":{}"#,
        head.kind().name(),
        head.recv_ns
    )?;
    match &head.body {
        Body::DepthDiff(d) => {
            write!(
                out,
                r#","E":{},"T":{},"U":{},"u":{},"pu":{}"#,
                d.event_time_ms,
                d.transact_time_ms,
                d.first_update_id,
                d.final_update_id,
                d.prev_final_update_id
            )?;
            write_levels(out, events)?;
        }
        Body::DepthSnapshot(s) => {
            write!(out, r#","lastUpdateId":{}"#, s.last_update_id)?;
            write_time(out, "E", s.event_time_ms)?;
            write_time(out, "T", s.transact_time_ms)?;
            write_levels(out, events)?;
        }
        Body::AggTrade(t) => {
            write!(
                out,
                r#","E":{},"T":{},"a":{},"f":{},"l":{},"p":"{}","q":"{}""#,
                t.event_time_ms,
                t.transact_time_ms,
                t.agg_trade_id,
                t.first_trade_id,
                t.last_trade_id,
                t.px,
                t.qty
            )?;
            if !t.normal_qty.is_undef() {
                write!(out, r#","nq":"{}""#, t.normal_qty)?;
            }
            write!(out, r#","m":{}"#, t.aggressor.buyer_is_maker())?;
        }
        Body::Trade(t) => write!(
            out,
            r#","E":{},"T":{},"t":{},"p":"{}","q":"{}","m":{}"#,
            t.event_time_ms,
            t.transact_time_ms,
            t.trade_id,
            t.px,
            t.qty,
            t.aggressor.buyer_is_maker()
        )?,
        Body::BookTicker(b) => write!(
            out,
            r#","E":{},"T":{},"u":{},"b":"{}","B":"{}","a":"{}","A":"{}""#,
            b.event_time_ms,
            b.transact_time_ms,
            b.update_id,
            b.bid_px,
            b.bid_qty,
            b.ask_px,
            b.ask_qty
        )?,
        Body::MarkPrice(m) => {
            write!(
                out,
                r#","E":{},"p":"{}","i":"{}","P":"{}","r":"{}","T":{}"#,
                m.event_time_ms,
                m.mark_px,
                m.index_px,
                m.est_settle_px,
                m.funding_rate,
                m.next_funding_time_ms
            )?;
            if !m.mark_avg_px.is_undef() {
                write!(out, r#","ap":"{}""#, m.mark_avg_px)?;
            }
        }
        Body::Liquidation(l) => write!(
            out,
            r#","E":{},"T":{},"S":"{}","p":"{}","ap":"{}","q":"{}","l":"{}","z":"{}","X":"{}""#,
            l.event_time_ms,
            l.transact_time_ms,
            match l.side {
                orderflow_core::Side::Buy => "BUY",
                orderflow_core::Side::Sell => "SELL",
            },
            l.px,
            l.avg_px,
            l.orig_qty,
            l.last_filled_qty,
            l.filled_qty,
            l.status.as_str()
        )?,
        Body::Kline(k) => {
            write!(
                out,
                r#","E":{},"t":{},"i":"{}","f":{},"L":{},"o":"{}","h":"{}","l":"{}","c":"{}","v":"{}","n":{},"x":{},"q":"{}","V":"{}","Q":"{}""#,
                k.event_time_ms,
                k.open_time_ms,
                k.interval.as_str(),
                k.first_trade_id,
                k.last_trade_id,
                k.open,
                k.high,
                k.low,
                k.close,
                k.volume,
                k.trade_count,
                head.flags.contains(orderflow_core::Flags::CLOSED),
                k.quote_volume,
                k.taker_buy_volume,
                k.taker_buy_quote_volume
            )?;
            if let Some(ms) = k.interval.duration_ms() {
                write!(out, r#","T":{}"#, k.open_time_ms + ms - 1)?;
            }
        }
        Body::OpenInterest(o) => write!(
            out,
            r#","time":{},"openInterest":"{}""#,
            o.time_ms, o.open_interest
        )?,
        Body::Timer(t) => write!(out, r#","now_ms":{}"#, t.now_ms)?,
        Body::Status(s) => write!(
            out,
            r#","code":"{:?}","expected_id":{},"actual_id":{},"exchange_time_ms":{}"#,
            s.code, s.expected_id, s.actual_id, s.exchange_time_ms
        )?,
        Body::Level(_) => {}
    }
    out.write_all(b"}\n")
}

fn write_time(out: &mut impl Write, key: &str, ms: i64) -> io::Result<()> {
    if ms == UNDEF_TIME {
        return Ok(());
    }
    write!(out, r#","{key}":{ms}"#)
}

/// `"bids":[[px,qty],..],"asks":[..]` from the Level records of a depth message.
fn write_levels(out: &mut impl Write, events: &[Event]) -> io::Result<()> {
    let levels = || {
        events.iter().filter_map(|e| match &e.body {
            Body::Level(l) => Some(l),
            _ => None,
        })
    };
    for (key, side) in [
        ("bids", orderflow_core::BookSide::Bid),
        ("asks", orderflow_core::BookSide::Ask),
    ] {
        write!(out, r#","{key}":["#)?;
        for (i, Level { px, qty, .. }) in levels().filter(|l| l.side == side).enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            write!(out, r#"["{px}","{qty}"]"#)?;
        }
        out.write_all(b"]")?;
    }
    Ok(())
}
