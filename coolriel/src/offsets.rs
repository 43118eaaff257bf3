//! Which offset of a partition may be committed while several of its messages are in flight.

use std::collections::BTreeSet;

/// Offsets of one partition that were received but are not done yet.
///
/// Messages finish out of order (two keys are handled side by side), yet the committed
/// position must never pass a message that is not done: after a crash, everything from
/// the committed position on is delivered again, so that position is the lowest offset
/// still in flight, or one past the highest offset seen when nothing is in flight.
/// Offsets need not be contiguous (compaction and transaction markers leave gaps).
#[derive(Debug, Default)]
pub struct OffsetTracker {
    /// Received and not done.
    in_flight: BTreeSet<i64>,
    /// The first offset this tracker saw: the position the partition resumed from, which
    /// is already committed, so there is nothing to store until it is passed.
    first: Option<i64>,
    /// The highest offset seen; one past it is the position once nothing is in flight.
    highest: Option<i64>,
    /// The last position handed out by [`OffsetTracker::take_committable`].
    reported: Option<i64>,
}

impl OffsetTracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// A tracker for a partition that resumes at `position` after its actor restarted:
    /// everything below it is done and stored, so no position at or below it is handed
    /// out again, whatever arrives (a message fetched before the restart's seek, say).
    pub fn resuming_at(position: i64) -> Self {
        OffsetTracker {
            reported: Some(position),
            ..Self::default()
        }
    }

    /// The first offset seen (the position the partition resumed from), if any.
    pub fn first(&self) -> Option<i64> {
        self.first
    }

    /// The highest offset seen, if any.
    pub fn highest(&self) -> Option<i64> {
        self.highest
    }

    /// A message was received.
    pub fn begin(&mut self, offset: i64) {
        self.in_flight.insert(offset);
        self.first = Some(self.first.map_or(offset, |first| first.min(offset)));
        self.highest = Some(self.highest.map_or(offset, |highest| highest.max(offset)));
    }

    /// A message is done (handled or dead-lettered). Returns false for an offset that
    /// was not in flight.
    pub fn complete(&mut self, offset: i64) -> bool {
        self.in_flight.remove(&offset)
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// The position to resume from (the offset to store/commit): every message below it
    /// is done. `None` while not even the first message received is done.
    pub fn committable(&self) -> Option<i64> {
        let position = match self.in_flight.first() {
            Some(&lowest) => lowest,
            None => self.highest?.checked_add(1)?,
        };
        (position > self.first?).then_some(position)
    }

    /// Like [`OffsetTracker::committable`], but only when it moved since the last call,
    /// so each position is stored once.
    pub fn take_committable(&mut self) -> Option<i64> {
        let position = self.committable()?;
        if self.reported.is_some_and(|reported| reported >= position) {
            return None;
        }
        self.reported = Some(position);
        Some(position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_to_commit_before_anything_is_done() {
        let mut tracker = OffsetTracker::new();
        assert_eq!(tracker.committable(), None);
        tracker.begin(10);
        tracker.begin(11);
        assert_eq!(tracker.committable(), None);
        assert_eq!(tracker.in_flight(), 2);
    }

    #[test]
    fn in_order_completion_moves_the_position_one_by_one() {
        let mut tracker = OffsetTracker::new();
        for offset in 0..3 {
            tracker.begin(offset);
        }
        assert!(tracker.complete(0));
        assert_eq!(tracker.take_committable(), Some(1));
        assert!(tracker.complete(1));
        assert_eq!(tracker.take_committable(), Some(2));
        assert!(tracker.complete(2));
        assert_eq!(tracker.take_committable(), Some(3));
        assert_eq!(tracker.in_flight(), 0);
    }

    #[test]
    fn a_slow_message_holds_the_position_back() {
        let mut tracker = OffsetTracker::new();
        for offset in 5..10 {
            tracker.begin(offset);
        }
        // 6..10 finish first; 5 is still being retried.
        for offset in 6..10 {
            assert!(tracker.complete(offset));
        }
        assert_eq!(tracker.take_committable(), None, "5 is not done");
        assert!(tracker.complete(5));
        assert_eq!(tracker.take_committable(), Some(10));
    }

    #[test]
    fn the_position_stops_below_the_lowest_unfinished_offset() {
        let mut tracker = OffsetTracker::new();
        for offset in 0..6 {
            tracker.begin(offset);
        }
        tracker.complete(0);
        tracker.complete(1);
        tracker.complete(3);
        tracker.complete(4);
        assert_eq!(tracker.take_committable(), Some(2));
        tracker.complete(2);
        assert_eq!(tracker.take_committable(), Some(5));
        tracker.complete(5);
        assert_eq!(tracker.take_committable(), Some(6));
    }

    #[test]
    fn gaps_in_offsets_are_not_waited_for() {
        let mut tracker = OffsetTracker::new();
        tracker.begin(100);
        tracker.begin(104); // 101..104 were compacted away
        tracker.complete(104);
        assert_eq!(tracker.take_committable(), None);
        tracker.complete(100);
        assert_eq!(tracker.take_committable(), Some(105));
    }

    #[test]
    fn each_position_is_reported_once() {
        let mut tracker = OffsetTracker::new();
        tracker.begin(0);
        tracker.complete(0);
        assert_eq!(tracker.take_committable(), Some(1));
        assert_eq!(tracker.take_committable(), None);
        assert_eq!(tracker.committable(), Some(1));
    }

    #[test]
    fn unknown_offsets_are_rejected() {
        let mut tracker = OffsetTracker::new();
        tracker.begin(1);
        assert!(!tracker.complete(2));
        assert!(tracker.complete(1));
        assert!(!tracker.complete(1), "completing twice is a no-op");
    }

    #[test]
    fn a_resumed_tracker_never_hands_out_its_resume_position_or_below() {
        let mut tracker = OffsetTracker::resuming_at(10);
        // A stale message from before the restart's seek, then the ones after it.
        tracker.begin(7);
        tracker.complete(7);
        assert_eq!(
            tracker.take_committable(),
            None,
            "8 is below the resume point"
        );
        tracker.begin(10);
        tracker.begin(11);
        tracker.complete(11);
        assert_eq!(tracker.take_committable(), None, "10 is not done");
        tracker.complete(10);
        assert_eq!(tracker.take_committable(), Some(12));
        assert_eq!(tracker.highest(), Some(11));
    }

    #[test]
    fn a_late_lower_offset_never_moves_the_position_back() {
        let mut tracker = OffsetTracker::new();
        tracker.begin(7);
        tracker.complete(7);
        assert_eq!(tracker.take_committable(), Some(8));
        // A message that was buffered before the split arrives late.
        tracker.begin(3);
        assert_eq!(tracker.take_committable(), None);
        tracker.complete(3);
        assert_eq!(tracker.take_committable(), None);
        tracker.begin(8);
        tracker.complete(8);
        assert_eq!(tracker.take_committable(), Some(9));
    }
}
