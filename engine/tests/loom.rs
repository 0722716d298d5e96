//! Model check of the ring's atomics (STYLE.md section 6). Run by hand, in release, bounded:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p orderflow-engine --test loom --release
//! ```
//!
//! Loom explores the interleavings of the producer and consumer threads (with at most
//! `PREEMPTIONS` forced preemptions each) and fails on a data race on a slot, an ordering too
//! weak for a value to be seen, or a wrong value.
#![cfg(loom)]
#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] fns")]

use loom::thread;
use orderflow_engine::ring::{Consumer, ring, ring_with_release};

const PREEMPTIONS: usize = 3;

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(PREEMPTIONS);
    builder.check(f);
}

/// Pops `0..n` in order, yielding while the ring is empty.
fn expect_in_order(consumer: &mut Consumer<u32>, n: u32) {
    for i in 0..n {
        loop {
            match consumer.try_pop() {
                Ok(v) => {
                    assert_eq!(v, i);
                    break;
                }
                Err(_) => thread::yield_now(),
            }
        }
    }
}

/// Three values through two slots: the producer must wrap and wait for the consumer.
#[test]
fn values_cross_in_order_through_a_full_ring() {
    model(|| {
        let (mut producer, mut consumer) = ring::<u32>(2);
        let writer = thread::spawn(move || {
            for i in 0..3 {
                while producer.try_push(i).is_err() {
                    thread::yield_now();
                }
            }
        });
        expect_in_order(&mut consumer, 3);
        writer.join().unwrap();
    });
}

/// A consumer that sees the producer gone and then an empty ring has read everything.
#[test]
fn abandoned_then_empty_means_all_read() {
    model(|| {
        let (mut producer, mut consumer) = ring::<u32>(2);
        let writer = thread::spawn(move || {
            producer.try_push(7).unwrap();
            producer.try_push(8).unwrap();
            drop(producer);
        });
        let mut got = Vec::new();
        loop {
            if let Ok(v) = consumer.try_pop() {
                got.push(v);
                continue;
            }
            if consumer.is_abandoned() {
                while let Ok(v) = consumer.try_pop() {
                    got.push(v);
                }
                break;
            }
            thread::yield_now();
        }
        assert_eq!(got, [7, 8]);
        writer.join().unwrap();
    });
}

/// Staged values become visible at `publish`; a full ring of staged values is published
/// before the producer waits for room.
#[test]
fn staged_values_cross_when_published() {
    model(|| {
        let (mut producer, mut consumer) = ring::<u32>(2);
        let writer = thread::spawn(move || {
            for i in 0..3 {
                while producer.try_write(i).is_err() {
                    producer.publish();
                    thread::yield_now();
                }
            }
            producer.publish();
        });
        expect_in_order(&mut consumer, 3);
        writer.join().unwrap();
    });
}

/// A consumer that releases slots two at a time: the producer never overwrites a slot
/// before it was read, across wraps.
#[test]
fn batched_releases_never_expose_an_unread_slot() {
    model(|| {
        let (mut producer, mut consumer) = ring_with_release::<u32>(2, 2);
        let writer = thread::spawn(move || {
            for i in 0..5 {
                while producer.try_push(i).is_err() {
                    thread::yield_now();
                }
            }
        });
        expect_in_order(&mut consumer, 5);
        writer.join().unwrap();
    });
}
