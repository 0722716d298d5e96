//! The SPSC ring under real threads: no loss, no duplication, order kept (bounded counts, as
//! rtrb's `tests/lib.rs`).
#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] fns")]

use std::thread;

use orderflow_engine::ring::{Consumer, Producer, ring};

const COUNT: u64 = 200_000;

fn transfer(capacity: usize, count: u64) {
    transfer_in_batches(capacity, count, 1);
}

/// The producer publishes every `batch` values (`try_write`, then `publish`); with `batch` 1
/// it pushes each value (`try_push`).
fn transfer_in_batches(capacity: usize, count: u64, batch: u64) {
    let (mut producer, mut consumer): (Producer<u64>, Consumer<u64>) = ring(capacity);
    let writer = thread::spawn(move || {
        for i in 0..count {
            let mut value = i;
            let last_of_batch = (i + 1) % batch == 0;
            loop {
                let written = if batch == 1 {
                    producer.try_push(value)
                } else {
                    producer.try_write(value)
                };
                match written {
                    Ok(()) => break,
                    Err(e) => {
                        value = e.into_inner();
                        // Full: the consumer must see the staged values to make room.
                        producer.publish();
                        thread::yield_now();
                    }
                }
            }
            if last_of_batch {
                producer.publish();
            }
        }
        // Dropping the producer publishes a last partial batch.
    });
    let mut expected = 0u64;
    while expected < count {
        // Read before the pop: a producer seen gone has published everything, so the pop
        // after it cannot find the ring empty while values are still missing.
        let abandoned = consumer.is_abandoned();
        match consumer.try_pop() {
            Ok(v) => {
                assert_eq!(v, expected, "lost, duplicated or reordered");
                expected += 1;
            }
            Err(_) => {
                assert!(
                    !abandoned,
                    "producer gone and ring empty after {expected} of {count} values"
                );
                thread::yield_now();
            }
        }
    }
    writer.join().unwrap();
    assert!(consumer.is_abandoned());
    assert!(consumer.try_pop().is_err(), "nothing extra");
}

#[test]
fn tiny_rings_keep_every_value_in_order() {
    for capacity in [1, 2, 3] {
        transfer(capacity, COUNT / 10);
    }
}

#[test]
fn larger_rings_keep_every_value_in_order() {
    for capacity in [16, 1024] {
        transfer(capacity, COUNT);
    }
}

#[test]
fn staged_batches_keep_every_value_in_order() {
    for (capacity, batch) in [(1, 2), (3, 2), (16, 21), (1024, 21), (1024, 7)] {
        transfer_in_batches(capacity, COUNT / 4 + 3, batch);
    }
}

#[test]
fn wide_values_are_never_torn() {
    // 128-byte values (an `Event`'s size): a torn read would mix two values' words.
    let (mut producer, mut consumer) = ring::<[u64; 16]>(8);
    let count = 50_000u64;
    let writer = thread::spawn(move || {
        for i in 0..count {
            while producer.try_push([i; 16]).is_err() {
                thread::yield_now();
            }
        }
    });
    let mut next = 0;
    while next < count {
        if let Ok(v) = consumer.try_pop() {
            assert_eq!(v, [next; 16]);
            next += 1;
        } else {
            thread::yield_now();
        }
    }
    writer.join().unwrap();
}
