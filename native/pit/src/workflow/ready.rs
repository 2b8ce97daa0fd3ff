//! The scheduler's ready queue: which ready node starts next.
//!
//! Nodes start highest priority first, then earliest topological rank. A workflow has few
//! distinct priorities, known when it is compiled ([`PriorityLevels`]), so the queue is one bitset
//! by rank per priority level: inserting is one bit, taking the next node a scan from the first
//! word that may hold one (cheaper than a binary heap's sift per node).

/// A workflow's distinct node priorities, highest first, and each node's level among them.
#[derive(Clone, Debug, Default)]
pub struct PriorityLevels {
    /// Distinct priorities, highest first.
    pub priorities: Vec<i32>,
    /// Each node's index into `priorities`.
    pub level_of: Vec<u32>,
}

impl PriorityLevels {
    pub fn of(priorities: impl Iterator<Item = i32> + Clone) -> Self {
        let mut distinct: Vec<i32> = priorities.clone().collect();
        distinct.sort_unstable_by(|a, b| b.cmp(a));
        distinct.dedup();
        let level_of = priorities
            .map(|p| {
                let level = distinct
                    .iter()
                    .position(|&d| d == p)
                    .expect("every priority is among the distinct ones");
                level as u32
            })
            .collect();
        PriorityLevels {
            priorities: distinct,
            level_of,
        }
    }
}

/// Ready entries (level, rank), taken lowest level first, then lowest rank. An entry is held
/// once however often it is inserted.
#[derive(Debug)]
pub struct ReadyQueue {
    /// `levels` bitsets of `words` words each, one after the other.
    bits: Vec<u64>,
    words: usize,
    /// Per level: no entry lies in a word before this one.
    first_word: Vec<usize>,
    len: usize,
}

impl ReadyQueue {
    /// An empty queue for ranks below `ranks` in `levels` levels.
    pub fn new(levels: usize, ranks: usize) -> Self {
        let words = ranks.div_ceil(64).max(1);
        ReadyQueue {
            bits: vec![0; levels * words],
            words,
            first_word: vec![words; levels],
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn insert(&mut self, level: usize, rank: usize) {
        let word = rank / 64;
        let slot = &mut self.bits[level * self.words + word];
        let bit = 1u64 << (rank % 64);
        if *slot & bit == 0 {
            *slot |= bit;
            self.len += 1;
            let first = &mut self.first_word[level];
            *first = (*first).min(word);
        }
    }

    /// Take entry (level, rank) out if it is held.
    pub fn remove(&mut self, level: usize, rank: usize) {
        let slot = &mut self.bits[level * self.words + rank / 64];
        let bit = 1u64 << (rank % 64);
        if *slot & bit != 0 {
            *slot &= !bit;
            self.len -= 1;
        }
    }

    /// The entry that goes next, without taking it.
    pub fn peek(&mut self) -> Option<(usize, usize)> {
        if self.len == 0 {
            return None;
        }
        for level in 0..self.first_word.len() {
            let row = &self.bits[level * self.words..(level + 1) * self.words];
            let mut word = self.first_word[level];
            while word < self.words {
                let bits = row[word];
                if bits != 0 {
                    self.first_word[level] = word;
                    return Some((level, word * 64 + bits.trailing_zeros() as usize));
                }
                word += 1;
            }
            self.first_word[level] = self.words;
        }
        unreachable!("a non-empty queue has an entry")
    }

    /// Take the entry that goes next.
    pub fn pop(&mut self) -> Option<(usize, usize)> {
        let (level, rank) = self.peek()?;
        self.bits[level * self.words + rank / 64] &= !(1u64 << (rank % 64));
        self.len -= 1;
        Some((level, rank))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn levels_are_distinct_priorities_highest_first() {
        let levels = PriorityLevels::of([0, 5, -3, 5, 0].into_iter());
        assert_eq!(levels.priorities, vec![5, 0, -3]);
        assert_eq!(levels.level_of, vec![1, 0, 2, 0, 1]);
    }

    proptest! {
        /// The queue gives what an ordered set of (level, rank) gives, whatever the order of
        /// inserts, removals and pops.
        #[test]
        fn pops_in_level_then_rank_order(
            ops in proptest::collection::vec((0usize..3, 0usize..200, proptest::bool::ANY), 0..400)
        ) {
            let mut queue = ReadyQueue::new(3, 200);
            let mut model = BTreeSet::new();
            for (level, rank, pop) in ops {
                if pop && rank % 3 == 0 {
                    queue.remove(level, rank);
                    model.remove(&(level, rank));
                } else if pop {
                    prop_assert_eq!(queue.pop(), model.pop_first());
                } else {
                    queue.insert(level, rank);
                    model.insert((level, rank));
                }
                prop_assert_eq!(queue.len(), model.len());
                prop_assert_eq!(queue.peek(), model.first().copied());
            }
        }
    }
}
