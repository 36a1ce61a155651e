//! [`LatestFrame`]: the one-slot queue between capture and inference.
//!
//! A live source replaces a frame that inference has not taken yet (the older frame is dropped
//! and counted), so latency stays bounded by one inference; a file source read as fast as
//! possible waits for the slot instead, so that every frame is processed.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

struct Slot<T> {
    item: Option<T>,
    closed: bool,
    dropped: u64,
}

pub struct LatestFrame<T> {
    slot: Mutex<Slot<T>>,
    changed: Condvar,
}

impl<T> Default for LatestFrame<T> {
    fn default() -> Self {
        LatestFrame {
            slot: Mutex::new(Slot {
                item: None,
                closed: false,
                dropped: 0,
            }),
            changed: Condvar::new(),
        }
    }
}

impl<T> LatestFrame<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Puts `item` in the slot, dropping (and counting) a frame still waiting there.
    pub fn replace(&self, item: T) {
        let mut s = self.slot.lock().unwrap();
        if s.item.replace(item).is_some() {
            s.dropped += 1;
        }
        self.changed.notify_all();
    }

    /// Waits until the slot is free (or the queue closed), then puts `item` in it.
    /// Returns `false` (and drops `item`) if the queue was closed.
    pub fn put_wait(&self, item: T) -> bool {
        let mut s = self.slot.lock().unwrap();
        while s.item.is_some() && !s.closed {
            s = self.changed.wait(s).unwrap();
        }
        if s.closed {
            return false;
        }
        s.item = Some(item);
        self.changed.notify_all();
        true
    }

    /// The waiting frame: `Ok(Some)`, `Ok(None)` after `timeout` with none, `Err(())` when the
    /// queue is closed and empty.
    #[allow(clippy::result_unit_err)]
    pub fn take(&self, timeout: Duration) -> Result<Option<T>, ()> {
        let s = self.slot.lock().unwrap();
        let (mut s, _) = self
            .changed
            .wait_timeout_while(s, timeout, |s| s.item.is_none() && !s.closed)
            .unwrap();
        match s.item.take() {
            Some(item) => {
                self.changed.notify_all();
                Ok(Some(item))
            }
            None if s.closed => Err(()),
            None => Ok(None),
        }
    }

    /// No more frames will come; a waiting one can still be taken. Wakes every waiter.
    pub fn close(&self) {
        self.slot.lock().unwrap().closed = true;
        self.changed.notify_all();
    }

    /// Closed with no frame waiting: nothing more will ever be taken.
    pub fn is_drained(&self) -> bool {
        let s = self.slot.lock().unwrap();
        s.closed && s.item.is_none()
    }

    /// Frames replaced before inference took them.
    pub fn dropped(&self) -> u64 {
        self.slot.lock().unwrap().dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn replace_keeps_the_latest_and_counts_drops() {
        let q = LatestFrame::new();
        q.replace(1);
        q.replace(2);
        q.replace(3);
        assert_eq!(q.take(Duration::ZERO), Ok(Some(3)));
        assert_eq!(q.dropped(), 2);
        assert_eq!(q.take(Duration::from_millis(1)), Ok(None));
        q.replace(4);
        assert!(!q.is_drained());
        q.close();
        // Closed, but a frame still waits.
        assert!(!q.is_drained());
        assert_eq!(q.take(Duration::ZERO), Ok(Some(4)));
        assert!(q.is_drained());
        assert_eq!(q.take(Duration::ZERO), Err(()));
    }

    #[test]
    fn put_wait_loses_nothing() {
        let q = Arc::new(LatestFrame::new());
        let producer = {
            let q = q.clone();
            std::thread::spawn(move || {
                for i in 0..1000 {
                    assert!(q.put_wait(i));
                }
                q.close();
            })
        };
        let mut got = vec![];
        while let Ok(item) = q.take(Duration::from_secs(5)) {
            got.extend(item);
        }
        producer.join().unwrap();
        assert_eq!(got, (0..1000).collect::<Vec<_>>());
        assert_eq!(q.dropped(), 0);
    }

    #[test]
    fn close_releases_a_waiting_producer() {
        let q = Arc::new(LatestFrame::new());
        q.replace(0);
        let waiter = {
            let q = q.clone();
            std::thread::spawn(move || q.put_wait(1))
        };
        std::thread::sleep(Duration::from_millis(20));
        q.close();
        assert!(!waiter.join().unwrap());
    }
}
