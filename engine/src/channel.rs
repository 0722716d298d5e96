//! A [`ring`] with wake-ups: the ends the engine's threads hold.
//!
//! [`Sender`] and [`Receiver`] wrap a [`Producer`]/[`Consumer`] with two [`Signal`]s: `data`, on
//! which the receiver parks when the ring is empty (woken by the sender after a push), and
//! `space`, on which a blocking sender parks when it is full (woken by the receiver after a
//! pop). What happens on a full ring is the caller's [`Backpressure`] policy.

use std::sync::Arc;

use crate::ring::{Consumer, Producer, PushError, ring};
use crate::wait::{Signal, WaitStrategy};

/// What a producer does when its output ring is full (DESIGN.md section 2: never a silent drop).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backpressure {
    /// Wait (with the engine's [`WaitStrategy`]) until the consumer makes room; each full ring
    /// met is counted. Loses nothing, but a slow consumer slows the producer.
    BlockSpin,
    /// Skip the value and count it. The producer never waits.
    #[default]
    CountAndSkip,
}

/// What a send did, for the sender's counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sent {
    /// Pushed at once.
    Pushed,
    /// Pushed after waiting for space.
    PushedAfterWait,
    /// Skipped: ring full under [`Backpressure::CountAndSkip`].
    Skipped,
    /// Dropped: the receiver is gone.
    Closed,
}

pub(crate) fn channel<T: Copy + Send>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let (producer, consumer) = ring(capacity);
    let data = Signal::new();
    let space = Signal::new();
    (
        Sender {
            producer,
            publish_every: usize::MAX,
            data: Arc::clone(&data),
            space: Arc::clone(&space),
        },
        Receiver {
            consumer,
            data,
            space,
        },
    )
}

#[derive(Debug)]
pub(crate) struct Sender<T> {
    producer: Producer<T>,
    /// [`Sender::send_record`] publishes once this many records are staged, even mid-message.
    publish_every: usize,
    data: Arc<Signal>,
    space: Arc<Signal>,
}

#[derive(Debug)]
pub(crate) struct Receiver<T> {
    consumer: Consumer<T>,
    data: Arc<Signal>,
    space: Arc<Signal>,
}

impl<T: Copy + Send> Sender<T> {
    /// Makes [`Sender::send_record`] publish whenever `records` (at least 1) are staged, not
    /// only at a message's end.
    #[must_use]
    pub(crate) fn publishing_every(mut self, records: usize) -> Self {
        self.publish_every = records.max(1);
        self
    }

    /// Pushes `value` following `policy`, waiting with `wait` when it says so, and publishes
    /// it with anything staged before it.
    #[inline]
    pub(crate) fn send<W: WaitStrategy>(
        &mut self,
        value: T,
        policy: Backpressure,
        wait: W,
    ) -> Sent {
        self.send_record(value, true, policy, wait)
    }

    /// One record of a venue message: written as [`Sender::send`] writes it, but published
    /// (with the records staged before it) only when `last`, the record that ends the message,
    /// or when [`Sender::publishing_every`] records are staged; otherwise the receiver sees it
    /// at the next publish, when the ring fills up, or at the close. One publish per message
    /// is one fetch of the `tail` line for it instead of one per record; a publish every few
    /// records lets the receiver start on a long message while the rest is being written.
    #[inline]
    pub(crate) fn send_record<W: WaitStrategy>(
        &mut self,
        value: T,
        last: bool,
        policy: Backpressure,
        wait: W,
    ) -> Sent {
        let sent = match self.producer.try_write(value) {
            Ok(()) => Sent::Pushed,
            Err(PushError::Full(value)) => self.send_full(value, policy, wait),
        };
        if last || self.producer.unpublished() >= self.publish_every {
            self.publish();
        }
        sent
    }

    /// Publishes every staged value and wakes the receiver if it parked.
    #[inline]
    pub(crate) fn publish(&mut self) {
        if self.producer.has_unpublished() {
            self.producer.publish();
            self.data.wake();
        }
    }

    #[cold]
    fn send_full<W: WaitStrategy>(&mut self, mut value: T, policy: Backpressure, wait: W) -> Sent {
        if self.producer.is_abandoned() {
            return Sent::Closed;
        }
        // The receiver must see what fills the ring before anyone waits for it.
        self.producer.publish();
        if policy == Backpressure::CountAndSkip {
            // The receiver may be parked on a full ring only if a wake was missed; make sure.
            self.data.wake_fenced();
            return Sent::Skipped;
        }
        let mut step = 0u32;
        loop {
            self.data.wake_fenced();
            let producer = &mut self.producer;
            self.space.wait(wait.action(step), || {
                !producer.is_full() || producer.is_abandoned()
            });
            step = step.saturating_add(1);
            match self.producer.try_write(value) {
                Ok(()) => return Sent::PushedAfterWait,
                Err(PushError::Full(v)) => value = v,
            }
            if self.producer.is_abandoned() {
                return Sent::Closed;
            }
        }
    }

    /// Publishes anything staged and wakes the receiver if it parked, with a fence: call
    /// before going idle.
    pub(crate) fn flush(&mut self) {
        self.producer.publish();
        self.data.wake_fenced();
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.producer.close();
        self.data.wake_fenced();
    }
}

impl<T: Copy + Send> Receiver<T> {
    /// Takes the oldest value if any.
    #[inline]
    pub(crate) fn try_recv(&mut self) -> Option<T> {
        let value = self.consumer.try_pop().ok()?;
        // A sender waiting for room can use it only once the slots are released; waking it
        // before would only send it back to sleep.
        if !self.consumer.has_unreleased() {
            self.space.wake();
        }
        Some(value)
    }

    /// Waits once with `action` for a value (or for the sender to go).
    pub(crate) fn wait(&mut self, action: crate::wait::WaitAction) {
        // Before sleeping, make sure a sender blocked on a full ring is awake.
        self.space.wake_fenced();
        let consumer = &mut self.consumer;
        self.data
            .wait(action, || consumer.is_abandoned() || !consumer.is_empty());
    }

    /// The next value, waiting with `wait` while the ring is empty; `None` once the sender is
    /// gone and every value it sent has been taken.
    pub(crate) fn recv<W: WaitStrategy>(&mut self, wait: W) -> Option<T> {
        let mut step = 0u32;
        loop {
            if let Some(v) = self.try_recv() {
                return Some(v);
            }
            if self.consumer.is_abandoned() {
                // Everything pushed before the close is visible now: one last look.
                return self.try_recv();
            }
            self.wait(wait.action(step));
            step = step.saturating_add(1);
        }
    }

    /// `true` once the sender is gone (values may remain: drain with `try_recv`).
    pub(crate) fn is_abandoned(&self) -> bool {
        self.consumer.is_abandoned()
    }

    /// Values waiting now.
    pub(crate) fn len(&mut self) -> usize {
        self.consumer.len()
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.consumer.close();
        self.space.wake_fenced();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wait::Spin;

    #[test]
    fn records_are_published_at_the_message_end_or_every_n() {
        for (every, visible) in [(None, [0, 0, 0, 0, 5]), (Some(2), [0, 2, 2, 4, 5])] {
            let (tx, mut rx) = channel::<u32>(16);
            let mut tx = match every {
                Some(n) => tx.publishing_every(n),
                None => tx,
            };
            for (i, want) in visible.into_iter().enumerate() {
                let value = u32::try_from(i).unwrap_or(u32::MAX);
                let sent = tx.send_record(value, i == 4, Backpressure::BlockSpin, Spin);
                assert_eq!(sent, Sent::Pushed);
                assert_eq!(rx.len(), want, "every {every:?}, after record {i}");
            }
            let got: Vec<u32> = std::iter::from_fn(|| rx.try_recv()).collect();
            assert_eq!(got, [0, 1, 2, 3, 4]);
        }
    }
}
