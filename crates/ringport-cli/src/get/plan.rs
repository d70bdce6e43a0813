//! The download plan: which blocks are on disk, and which byte ranges (segments) the lanes
//! are fetching. Pure bookkeeping, no I/O, so its rules are unit-tested here.
//!
//! - The file is cut into fixed blocks; a block is *done* once its bytes are written and its
//!   checksum is queued for the journal. Segments always start on a block boundary, and a
//!   failed segment restarts from the start of its current block, so each block's checksum
//!   is computed by one lane in one pass.
//! - Stealing: a lane without work splits the segment expected to finish last (remaining
//!   bytes over its lane's rate) at a block boundary past what its owner has already read,
//!   sized so both are expected to finish together. The owner learns its new end before its
//!   next write: every byte has one owner.
//! - Hedging: when nothing is left to split, a lane may fetch the unclaimed tail of the
//!   segment expected to finish last a second time. Both lanes write the same bytes (same
//!   validators), and a block is committed once, by whichever finishes it first
//!   ([`mark_done`](Plan::mark_done) says who); a lane that reaches a block already done
//!   stops there.

/// A lane's number.
pub type LaneId = usize;

/// One range being fetched (or waiting for a lane).
#[derive(Debug, Clone, PartialEq)]
pub struct Seg {
    pub id: u64,
    /// Where the current request began (a block boundary).
    pub start: u64,
    /// Bytes before this are written (or being written) by the owner.
    pub claimed: u64,
    /// The end (exclusive); only ever lowered, by a steal.
    pub end: u64,
    pub owner: Option<LaneId>,
    /// Another lane fetches this segment's tail from here too (a hedge): it is no longer
    /// split, and a release gives back only the part before it.
    pub hedged_from: Option<u64>,
    /// This segment is a hedge of another.
    pub hedge: bool,
}

/// A split made by a steal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Steal {
    pub from: LaneId,
    pub at: u64,
    pub end: u64,
}

/// The blocks and segments of one download.
#[derive(Debug)]
pub struct Plan {
    total: u64,
    block: u64,
    done: Vec<bool>,
    done_count: usize,
    segs: Vec<Seg>,
    next_id: u64,
}

impl Plan {
    /// A plan for `total` bytes in blocks of `block`, with `done` blocks already on disk;
    /// every run of missing blocks becomes a segment waiting for a lane.
    pub fn new(total: u64, block: u64, done: Vec<bool>) -> Plan {
        let mut plan = Plan {
            total,
            block,
            done_count: done.iter().filter(|&&d| d).count(),
            done,
            segs: Vec::new(),
            next_id: 0,
        };
        let n = plan.done.len();
        let mut i = 0;
        while i < n {
            if plan.done[i] {
                i += 1;
                continue;
            }
            let first = i;
            while i < n && !plan.done[i] {
                i += 1;
            }
            let (start, end) = (first as u64 * block, (i as u64 * block).min(total));
            plan.push(start, end, None);
        }
        plan
    }

    /// How many blocks `total` bytes take.
    pub fn blocks_for(total: u64, block: u64) -> usize {
        total.div_ceil(block) as usize
    }

    pub fn block(&self) -> u64 {
        self.block
    }

    /// Byte range of block `i`.
    pub fn block_range(&self, i: usize) -> (u64, u64) {
        let start = i as u64 * self.block;
        (start, (start + self.block).min(self.total))
    }

    /// Marks block `i` done; whether this call did (false: done already, by a hedge).
    pub fn mark_done(&mut self, i: usize) -> bool {
        match self.done.get_mut(i) {
            Some(d) if !*d => {
                *d = true;
                self.done_count += 1;
                true
            }
            _ => false,
        }
    }

    pub fn is_done(&self, i: usize) -> bool {
        self.done.get(i).copied().unwrap_or(false)
    }

    /// Every block done.
    pub fn complete(&self) -> bool {
        self.done_count == self.done.len()
    }

    /// Bytes in done blocks.
    pub fn done_bytes(&self) -> u64 {
        (0..self.done.len())
            .filter(|&i| self.done[i])
            .map(|i| {
                let (a, b) = self.block_range(i);
                b - a
            })
            .sum()
    }

    /// Whether a lane could get work now (a waiting segment, or one worth splitting).
    pub fn has_work(&self, min_steal: u64) -> bool {
        self.segs
            .iter()
            .any(|s| s.owner.is_none() || self.splittable(s, min_steal))
    }

    pub fn seg(&self, id: u64) -> Option<&Seg> {
        self.segs.iter().find(|s| s.id == id)
    }

    fn seg_mut(&mut self, id: u64) -> Option<&mut Seg> {
        self.segs.iter_mut().find(|s| s.id == id)
    }

    fn push(&mut self, start: u64, end: u64, owner: Option<LaneId>) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.segs.push(Seg {
            id,
            start,
            claimed: start,
            end,
            owner,
            hedged_from: None,
            hedge: false,
        });
        id
    }

    fn align_up(&self, x: u64) -> u64 {
        x.div_ceil(self.block) * self.block
    }

    /// The lowest split point of `s`: its owner keeps at least the rest of the block it is in
    /// (or the next one, at a boundary).
    fn floor(&self, s: &Seg) -> u64 {
        self.align_up(s.claimed + 1)
    }

    fn splittable(&self, s: &Seg, min_steal: u64) -> bool {
        s.owner.is_some()
            && !s.hedge
            && s.hedged_from.is_none()
            && s.end >= self.floor(s) + min_steal.max(self.block)
    }

    /// Fetches a second time the rest of the segment expected to finish last (from the start
    /// of the block its owner is in), when
    /// its owner would need more than `worth` seconds for it and `lane` (at `thief_rate`)
    /// less than a third of that.
    pub fn hedge(
        &mut self,
        lane: LaneId,
        rate_of: impl Fn(LaneId) -> Option<f64>,
        thief_rate: Option<f64>,
        worth: f64,
    ) -> Option<(u64, Steal)> {
        let rt = thief_rate.filter(|r| *r > 0.0)?;
        let victim = self
            .segs
            .iter()
            .filter(|s| s.owner.is_some() && !s.hedge && s.hedged_from.is_none())
            .filter(|s| s.end > s.claimed)
            .filter_map(|s| {
                let left = (s.end - s.claimed) as f64;
                let rv = s.owner.and_then(&rate_of).unwrap_or(0.0);
                let owner_time = if rv > 0.0 { left / rv } else { f64::MAX };
                (owner_time > worth && left / rt * 3.0 < owner_time)
                    .then_some((s.clone(), owner_time))
            })
            .max_by(|a, b| a.1.total_cmp(&b.1))?
            .0;
        let from = victim.owner?;
        // From the start of the block the owner is in: its last block is the one most
        // worth racing.
        let at = (victim.claimed / self.block * self.block).max(victim.start);
        self.seg_mut(victim.id)?.hedged_from = Some(at);
        let id = self.push(at, victim.end, Some(lane));
        self.seg_mut(id)?.hedge = true;
        Some((
            id,
            Steal {
                from,
                at,
                end: victim.end,
            },
        ))
    }

    /// Gives `lane` the waiting segment that starts first, if any.
    pub fn claim_waiting(&mut self, lane: LaneId) -> Option<u64> {
        let seg = self
            .segs
            .iter_mut()
            .filter(|s| s.owner.is_none())
            .min_by_key(|s| s.start)?;
        seg.owner = Some(lane);
        Some(seg.id)
    }

    /// Gives `lane` the segment that starts at `start` (the first response's), if waiting.
    pub fn claim_at(&mut self, lane: LaneId, start: u64) -> Option<u64> {
        let seg = self
            .segs
            .iter_mut()
            .find(|s| s.owner.is_none() && s.start == start)?;
        seg.owner = Some(lane);
        Some(seg.id)
    }

    /// Splits the segment expected to finish last and gives its tail to `lane`. `rate_of`
    /// tells a lane's recent rate (bytes/s; `None` while unknown); `thief_rate` is the
    /// expected rate of `lane` itself. At least `min_steal` bytes (and a block) are taken.
    pub fn steal(
        &mut self,
        lane: LaneId,
        rate_of: impl Fn(LaneId) -> Option<f64>,
        thief_rate: Option<f64>,
        min_steal: u64,
    ) -> Option<(u64, Steal)> {
        let time_left = |s: &Seg| {
            let left = (s.end - s.claimed) as f64;
            match s.owner.and_then(&rate_of) {
                Some(r) if r > 0.0 => left / r,
                // Unknown or stalled: treat as slowest, by bytes.
                _ => f64::MAX / 2.0 + left,
            }
        };
        let victim = self
            .segs
            .iter()
            .filter(|s| self.splittable(s, min_steal))
            .max_by(|a, b| time_left(a).total_cmp(&time_left(b)))?
            .clone();
        let from = victim.owner?;
        let left = victim.end - victim.claimed;
        let rv = rate_of(from).filter(|r| *r > 0.0);
        let keep = match (rv, thief_rate.filter(|r| *r > 0.0)) {
            (Some(rv), Some(rt)) => (left as f64 * rv / (rv + rt)) as u64,
            // Nothing to go by: halves.
            _ => left / 2,
        };
        let floor = self.floor(&victim);
        let least = min_steal.max(self.block);
        let mut at = self.align_up(victim.claimed + keep).max(floor);
        if victim.end.saturating_sub(at) < least {
            at = (victim.end - least) / self.block * self.block;
        }
        if at < floor || at >= victim.end {
            return None;
        }
        let end = victim.end;
        self.seg_mut(victim.id)?.end = at;
        let id = self.push(at, end, Some(lane));
        Some((id, Steal { from, at, end }))
    }

    /// The owner is about to write up to `to`: no steal may split below it.
    pub fn set_claimed(&mut self, id: u64, to: u64) {
        if let Some(s) = self.seg_mut(id) {
            s.claimed = s.claimed.max(to.min(s.end));
        }
    }

    /// A segment's current end (a steal may have lowered it).
    pub fn end_of(&self, id: u64) -> u64 {
        self.seg(id).map_or(0, |s| s.end)
    }

    /// The owner finished the segment.
    pub fn finish(&mut self, id: u64) {
        self.segs.retain(|s| s.id != id);
    }

    /// The owner gave up on the segment after writing up to `written`: it waits for a lane
    /// again, from the start of the block `written` falls in.
    pub fn release(&mut self, id: u64, written: u64) {
        let block = self.block;
        if let Some(s) = self.seg_mut(id) {
            if let Some(h) = s.hedged_from.take() {
                // The hedge goes on with the tail.
                s.end = s.end.min(h);
            }
            s.hedge = false;
            let restart = (written / block * block).max(s.start).min(s.end);
            s.start = restart;
            s.claimed = restart;
            s.owner = None;
            if s.start >= s.end {
                self.finish(id);
            }
        }
    }

    /// The segment stops at `at` (a block there was done by a hedge): what follows is the
    /// other lane's.
    pub fn cut(&mut self, id: u64, at: u64) {
        if let Some(s) = self.seg_mut(id) {
            s.end = s.end.min(at.max(s.start));
        }
    }

    /// Segments in order, for events and tests.
    pub fn segments(&self) -> &[Seg] {
        &self.segs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn missing_runs_become_waiting_segments() {
        let done = vec![true, false, false, true, false];
        let plan = Plan::new(5 * MIB - 10, MIB, done);
        let segs: Vec<(u64, u64)> = plan.segments().iter().map(|s| (s.start, s.end)).collect();
        assert_eq!(segs, vec![(MIB, 3 * MIB), (4 * MIB, 5 * MIB - 10)]);
        assert_eq!(plan.done_bytes(), 2 * MIB);
        assert!(!plan.complete());
    }

    #[test]
    fn steals_split_the_slowest_at_block_boundaries_by_rate() {
        let mut plan = Plan::new(100 * MIB, MIB, vec![false; 100]);
        let a = plan.claim_waiting(0).unwrap();
        // No rates known: halves.
        let (b, s) = plan.steal(1, |_| None, None, MIB).unwrap();
        assert_eq!(
            s,
            Steal {
                from: 0,
                at: 50 * MIB,
                end: 100 * MIB
            }
        );
        assert_eq!(plan.end_of(a), 50 * MIB);
        // Lane 0 has read 10 MiB at 1 MiB/s; lane 1 runs at 9 MiB/s: a thief at 9 MiB/s
        // takes the lion's share of what lane 0 has left, from a block boundary.
        plan.set_claimed(a, 10 * MIB + 5);
        plan.set_claimed(b, 60 * MIB);
        let rate = |l: LaneId| Some(if l == 0 { MIB as f64 } else { 9.0 * MIB as f64 });
        let (_, s) = plan.steal(2, rate, Some(9.0 * MIB as f64), MIB).unwrap();
        assert_eq!(s.from, 0, "lane 0 is expected to finish last");
        assert_eq!(s.at % MIB, 0);
        assert!(s.at > 10 * MIB && s.at <= 15 * MIB, "{}", s.at / MIB);
        assert_eq!(plan.end_of(a), s.at);
    }

    #[test]
    fn nothing_is_split_below_what_the_owner_claimed() {
        let mut plan = Plan::new(4 * MIB, MIB, vec![false; 4]);
        let a = plan.claim_waiting(0).unwrap();
        plan.set_claimed(a, 3 * MIB - 1);
        // Only the last block is left beyond the claim: one block is the minimum to steal.
        let (_, s) = plan.steal(1, |_| None, None, MIB).unwrap();
        assert_eq!((s.at, s.end), (3 * MIB, 4 * MIB));
        plan.set_claimed(a, 3 * MIB);
        assert!(plan.steal(2, |_| None, None, MIB).is_none());
        assert!(!plan.has_work(MIB));
    }

    #[test]
    fn a_released_segment_restarts_at_its_block() {
        let mut plan = Plan::new(10 * MIB, MIB, vec![false; 10]);
        let a = plan.claim_waiting(0).unwrap();
        plan.set_claimed(a, 3 * MIB + 77);
        plan.release(a, 3 * MIB + 77);
        let s = plan.seg(a).unwrap();
        assert_eq!((s.start, s.claimed, s.owner), (3 * MIB, 3 * MIB, None));
        assert_eq!(plan.claim_waiting(5), Some(a));
        for i in 0..10 {
            assert!(plan.mark_done(i));
        }
        assert!(!plan.mark_done(3), "a block is committed once");
        assert!(plan.complete());
        assert_eq!(plan.done_bytes(), 10 * MIB);
    }

    #[test]
    fn a_slow_owner_s_unsplittable_tail_is_hedged_once() {
        let mut plan = Plan::new(4 * MIB, MIB, vec![false; 4]);
        let a = plan.claim_waiting(0).unwrap();
        plan.set_claimed(a, 2 * MIB + 5);
        // Two blocks left for lane 0, too few to split with a 2-block minimum.
        assert!(plan.steal(1, |_| None, None, 2 * MIB).is_none());
        let slow = |l: LaneId| Some(if l == 0 { 1000.0 } else { 1e9 });
        assert!(
            plan.hedge(1, slow, None, 1.0).is_none(),
            "no rate for the thief: no hedge"
        );
        let (h, s) = plan.hedge(1, slow, Some(1e9), 1.0).unwrap();
        assert_eq!(
            (s.from, s.at, s.end),
            (0, 2 * MIB, 4 * MIB),
            "from the owner's block"
        );
        assert!(plan.hedge(2, slow, Some(1e9), 1.0).is_none(), "hedged once");
        assert!(!plan.has_work(MIB));
        // Exactly once: the first to finish a block commits it.
        assert!(plan.mark_done(2));
        assert!(!plan.mark_done(2));
        // The owner fails: it gives back nothing the hedge covers.
        plan.release(a, 2 * MIB + 5);
        assert!(plan.seg(a).is_none());
        assert_eq!(plan.seg(h).unwrap().end, 4 * MIB);
    }
}
