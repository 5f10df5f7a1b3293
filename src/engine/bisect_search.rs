//! The bisect search: a pure state machine, no I/O.
//!
//! Commits are positions `0..=n` along a first-parent walk: 0 is the good end,
//! `n` the bad end. Every cell being searched has an interval `(last, first)`:
//! the last position known to show its good-end outcome and the first known to
//! show a changed one. A probe evaluates one position for every cell whose
//! interval holds it, so one boot narrows many searches. The machine says which
//! positions to probe next ([`Search::next`]) and takes what they showed
//! ([`Search::record`]); it is done when every interval is one commit wide, or
//! when only unbootable commits are left inside it (an honest range).
//!
//! Midpoints are taken over absolute positions (the first-parent depth of each
//! commit), so that two searches over overlapping ranges choose the same
//! commits and reuse each other's probes.

use std::collections::{BTreeMap, BTreeSet};

/// What a cell showed at a probed commit, compared with the good end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observation {
    /// The good end's outcome.
    Same,
    /// Something else: the change being searched for.
    Changed,
    /// Repeated runs disagreed.
    Flaky,
}

/// What probing a commit gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// It could not build or boot: skipped, like `git bisect skip`.
    Skip,
    /// An observation for each cell (by index) that was being searched.
    Cells(BTreeMap<usize, Observation>),
}

/// The answer for one cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// `first` is the first commit with the changed outcome; `first - 1` shows the good one.
    Found { first: usize },
    /// The change is at one of `last + 1 ..= first`; the commits between could not be booted.
    Range { last: usize, first: usize },
    /// Its runs disagreed at some probe; it was dropped from the search.
    Flaky { at: usize },
}

#[derive(Debug, Clone)]
pub enum Next {
    /// Probe these positions (at once, if there are several).
    Probe(Vec<usize>),
    /// Every cell has its answer, by cell index.
    Done(Vec<Answer>),
}

#[derive(Debug, Clone)]
struct Interval {
    last: usize,
    first: usize,
    flaky: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct Search {
    /// The absolute position (first-parent depth) of position 0.
    offset: usize,
    cells: Vec<Interval>,
    skipped: BTreeSet<usize>,
    probed: BTreeSet<usize>,
}

impl Search {
    /// A search over positions `0..=n` for `cells` cells, each Same at 0 and Changed at `n`.
    pub fn new(n: usize, cells: usize, offset: usize) -> Self {
        assert!(n >= 1, "the ends are different commits");
        Self {
            offset,
            cells: vec![
                Interval {
                    last: 0,
                    first: n,
                    flaky: None
                };
                cells
            ],
            skipped: BTreeSet::new(),
            probed: [0, n].into(),
        }
    }

    fn open(&self, cell: &Interval) -> bool {
        cell.flaky.is_none() && (cell.last + 1..cell.first).any(|p| !self.skipped.contains(&p))
    }

    /// The cells whose interval holds `position`.
    pub fn cells_at(&self, position: usize) -> Vec<usize> {
        (0..self.cells.len())
            .filter(|&c| {
                self.open(&self.cells[c])
                    && self.cells[c].last < position
                    && position < self.cells[c].first
            })
            .collect()
    }

    pub fn is_probed(&self, position: usize) -> bool {
        self.probed.contains(&position)
    }

    /// Take what a probe showed. Results for cells not being searched there are ignored.
    pub fn record(&mut self, position: usize, probe: &Probe) {
        self.probed.insert(position);
        let observations = match probe {
            Probe::Skip => {
                self.skipped.insert(position);
                return;
            }
            Probe::Cells(observations) => observations,
        };
        for (&cell, &observation) in observations {
            let Some(interval) = self.cells.get_mut(cell) else {
                continue;
            };
            if interval.flaky.is_some() || position <= interval.last || position >= interval.first {
                continue;
            }
            match observation {
                Observation::Same => interval.last = position,
                Observation::Changed => interval.first = position,
                Observation::Flaky => interval.flaky = Some(position),
            }
        }
    }

    /// Up to `parallel` positions to probe next, or the answers.
    pub fn next(&self, parallel: usize) -> Next {
        let parallel = parallel.max(1);
        // Intervals still open, each once, with how many cells share it.
        let mut intervals: BTreeMap<(usize, usize), usize> = BTreeMap::new();
        for cell in &self.cells {
            if self.open(cell) {
                *intervals.entry((cell.last, cell.first)).or_default() += 1;
            }
        }
        if intervals.is_empty() {
            return Next::Done(self.answers());
        }
        // Widest (then most shared) intervals first.
        let mut order: Vec<((usize, usize), usize)> = intervals.into_iter().collect();
        order.sort_by(
            |((a_last, a_first), a_cells), ((b_last, b_first), b_cells)| {
                (b_first - b_last)
                    .cmp(&(a_first - a_last))
                    .then(b_cells.cmp(a_cells))
                    .then(a_last.cmp(b_last))
            },
        );
        let width = |i: usize| order[i].0.1 - order[i].0.0;
        // One midpoint per interval while there are slots; a probe inside
        // several intervals serves them all.
        let mut slots = vec![0usize; order.len()];
        let mut midpoints: Vec<(usize, usize)> = Vec::new();
        for (i, ((last, first), _)) in order.iter().enumerate() {
            if midpoints.len() == parallel {
                break;
            }
            if midpoints.iter().any(|(_, p)| last < p && p < first) {
                continue;
            }
            if let Some(point) = self.split(*last, *first, 1, 2) {
                midpoints.push((i, point));
                slots[i] = 1;
            }
        }
        // Slots left: give them to the intervals whose parts are widest, each
        // then cut into equal parts (a K-ary search).
        for _ in midpoints.len()..parallel {
            let Some(i) = (0..order.len())
                .filter(|&i| slots[i] > 0 && slots[i] + 1 < width(i))
                .max_by(|&a, &b| {
                    (width(a) * (slots[b] + 1))
                        .cmp(&(width(b) * (slots[a] + 1)))
                        .then(b.cmp(&a))
                })
            else {
                break;
            };
            slots[i] += 1;
        }
        let mut picks: Vec<usize> = Vec::new();
        for (i, ((last, first), _)) in order.iter().enumerate() {
            let parts = slots[i] + 1;
            let points: Vec<usize> = match slots[i] {
                0 => continue,
                1 => midpoints
                    .iter()
                    .filter(|(j, _)| *j == i)
                    .map(|(_, p)| *p)
                    .collect(),
                _ => (1..parts)
                    .filter_map(|part| self.split(*last, *first, part, parts))
                    .collect(),
            };
            for point in points {
                if !picks.contains(&point) {
                    picks.push(point);
                }
            }
        }
        if picks.is_empty() {
            // Nothing left to probe inside the open intervals.
            return Next::Done(self.answers());
        }
        picks.sort_unstable();
        Next::Probe(picks)
    }

    /// The unprobed position nearest to `part/parts` of the way from `last`
    /// to `first`. Positions count absolutely, and of two equally good
    /// midpoints the rounder one (more trailing zero bits) wins, so the same
    /// interval of a history always gets the same probe.
    fn split(&self, last: usize, first: usize, part: usize, parts: usize) -> Option<usize> {
        let (a, b) = (self.offset + last, self.offset + first);
        let mut target = (a + (b - a) * part / parts).clamp(a + 1, b - 1);
        if !((b - a) * part).is_multiple_of(parts)
            && target + 1 < b
            && (target + 1).trailing_zeros() > target.trailing_zeros()
        {
            target += 1;
        }
        let target = target - self.offset;
        let usable = |p: usize| last < p && p < first && !self.probed.contains(&p);
        (0..first - last)
            .flat_map(|d| [target.checked_sub(d), target.checked_add(d)])
            .flatten()
            .find(|&p| usable(p))
    }

    fn answers(&self) -> Vec<Answer> {
        self.cells
            .iter()
            .map(|cell| match cell.flaky {
                Some(at) => Answer::Flaky { at },
                None if cell.first == cell.last + 1 => Answer::Found { first: cell.first },
                None => Answer::Range {
                    last: cell.last,
                    first: cell.first,
                },
            })
            .collect()
    }
}

/// `ceil(log2(n))`, the probes a binary search over `n` commits needs.
pub fn log2_ceil(n: usize) -> usize {
    usize::BITS as usize - n.saturating_sub(1).leading_zeros() as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Run a search to the end against a scripted history: cell `c` changes at
    /// `flips[c]`; positions in `unbootable` are skipped; `flaky` cells are
    /// flaky wherever they are probed. Returns the answers, the probes of
    /// bootable commits, the probes of unbootable ones, and the rounds.
    fn run(
        n: usize,
        flips: &[usize],
        unbootable: &BTreeSet<usize>,
        flaky: &BTreeSet<usize>,
        parallel: usize,
        offset: usize,
    ) -> (Vec<Answer>, usize, usize, usize) {
        let mut search = Search::new(n, flips.len(), offset);
        let (mut probes, mut skips, mut rounds) = (0, 0, 0);
        loop {
            match search.next(parallel) {
                Next::Done(answers) => return (answers, probes, skips, rounds),
                Next::Probe(points) => {
                    rounds += 1;
                    assert!(!points.is_empty() && points.len() <= parallel);
                    // A batch is evaluated at once: each probe runs the cells
                    // searched there when the batch was chosen.
                    let batch: Vec<(usize, Vec<usize>)> =
                        points.iter().map(|&p| (p, search.cells_at(p))).collect();
                    for (point, cells) in batch {
                        assert!(!search.is_probed(point), "probed {point} twice");
                        let probe = if unbootable.contains(&point) {
                            skips += 1;
                            Probe::Skip
                        } else {
                            probes += 1;
                            assert!(!cells.is_empty(), "a probe that serves no cell");
                            Probe::Cells(
                                cells
                                    .into_iter()
                                    .map(|c| {
                                        (
                                            c,
                                            if flaky.contains(&c) {
                                                Observation::Flaky
                                            } else if point >= flips[c] {
                                                Observation::Changed
                                            } else {
                                                Observation::Same
                                            },
                                        )
                                    })
                                    .collect(),
                            )
                        };
                        search.record(point, &probe);
                    }
                }
            }
        }
    }

    #[test]
    fn an_unbootable_neighbour_of_the_flip_costs_at_most_one_probe_per_skip() {
        // The case the property test once shrank to (n = 64, one flip, one unbootable commit).
        let unbootable: BTreeSet<usize> = [40].into();
        let (answers, probes, skips, _) = run(64, &[46], &unbootable, &BTreeSet::new(), 1, 1);
        assert_eq!(answers, [Answer::Found { first: 46 }]);
        // The skipped commit costs one probe of a neighbour beyond the bound,
        // as `git bisect skip` does: the bound holds for the bootable probes
        // plus one per skip.
        assert_eq!(skips, 1);
        assert!(probes <= log2_ceil(64) + skips, "{probes} probes");
    }

    #[test]
    fn one_cell_is_a_binary_search() {
        let (answers, probes, _, rounds) = run(32, &[13], &BTreeSet::new(), &BTreeSet::new(), 1, 0);
        assert_eq!(answers, [Answer::Found { first: 13 }]);
        assert!(probes <= 5, "{probes}");
        assert_eq!(rounds, probes);
    }

    #[test]
    fn cells_that_flip_together_share_every_probe() {
        let (answers, probes, _, _) = run(
            30,
            &[10, 10, 10, 10, 10, 10],
            &BTreeSet::new(),
            &BTreeSet::new(),
            1,
            0,
        );
        assert!(answers.iter().all(|a| *a == Answer::Found { first: 10 }));
        assert!(probes <= log2_ceil(30), "{probes}");
    }

    #[test]
    fn an_unbootable_neighbour_is_stepped_around() {
        // The midpoint 10 cannot boot: its neighbours are probed instead, and
        // a flip at 12 is still found exactly.
        let unbootable: BTreeSet<usize> = [10].into();
        let (answers, _, skips, _) = run(20, &[12], &unbootable, &BTreeSet::new(), 1, 0);
        assert_eq!(answers, [Answer::Found { first: 12 }]);
        assert_eq!(skips, 1);
        // A flip at 10 or 11: 9 shows the good outcome, 11 the changed one, and
        // only the unbootable 10 is between, so the answer is the honest range.
        for flip in [10, 11] {
            let (answers, _, _, _) = run(20, &[flip], &unbootable, &BTreeSet::new(), 1, 0);
            assert_eq!(answers, [Answer::Range { last: 9, first: 11 }]);
        }
    }

    #[test]
    fn flaky_cells_are_dropped_and_the_rest_go_on() {
        let flaky: BTreeSet<usize> = [1].into();
        let (answers, _, _, _) = run(16, &[5, 9], &BTreeSet::new(), &flaky, 1, 0);
        assert_eq!(answers[0], Answer::Found { first: 5 });
        assert!(matches!(answers[1], Answer::Flaky { .. }));
    }

    #[test]
    fn adjacent_ends_need_no_probe() {
        let (answers, probes, _, _) = run(1, &[1, 1], &BTreeSet::new(), &BTreeSet::new(), 2, 0);
        assert_eq!(
            answers,
            [Answer::Found { first: 1 }, Answer::Found { first: 1 }]
        );
        assert_eq!(probes, 0);
    }

    #[test]
    fn parallel_probes_take_fewer_rounds() {
        let (_, _, _, sequential) = run(64, &[37], &BTreeSet::new(), &BTreeSet::new(), 1, 0);
        let (answers, _, _, parallel) = run(64, &[37], &BTreeSet::new(), &BTreeSet::new(), 3, 0);
        assert_eq!(answers, [Answer::Found { first: 37 }]);
        assert!(
            parallel < sequential,
            "{parallel} rounds with 3 probes, {sequential} with 1"
        );
    }

    #[test]
    fn the_same_interval_always_gets_the_same_probe() {
        let probe = |n, offset| match Search::new(n, 1, offset).next(1) {
            Next::Probe(points) => points[0] + offset,
            Next::Done(_) => panic!(),
        };
        assert_eq!(probe(64, 100), 132);
        assert_eq!(probe(64, 100), probe(64, 100));
        // Of two midpoints, the rounder absolute position: 100..=131 → 116.
        assert_eq!(probe(31, 100), 116);
    }

    #[test]
    fn a_second_search_reuses_the_first_ones_probes() {
        // A history of 200 commits (absolute 0..=200) where the cell flips at 137.
        let flip = 137;
        let observe = |abs: usize| {
            if abs >= flip {
                Observation::Changed
            } else {
                Observation::Same
            }
        };
        // First search over 0..=200, keeping every probe's result (the cell cache).
        let mut cache = BTreeMap::new();
        let mut search = Search::new(200, 1, 0);
        while let Next::Probe(points) = search.next(1) {
            for p in points {
                cache.insert(p, observe(p));
                search.record(p, &Probe::Cells([(0, observe(p))].into()));
            }
        }
        // A second search over 20..=190 takes what is cached for free first.
        let mut second = Search::new(170, 1, 20);
        for (&abs, &seen) in cache.range(21..190) {
            second.record(abs - 20, &Probe::Cells([(0, seen)].into()));
        }
        let mut fresh = 0;
        let answer = loop {
            match second.next(1) {
                Next::Probe(points) => {
                    for p in points {
                        fresh += 1;
                        second.record(p, &Probe::Cells([(0, observe(p + 20))].into()));
                    }
                }
                Next::Done(answers) => break answers[0],
            }
        };
        assert_eq!(answer, Answer::Found { first: flip - 20 });
        assert_eq!(fresh, 0, "every probe came from the first search");
    }

    #[test]
    fn log2_ceil_counts_halvings() {
        assert_eq!(
            [1, 2, 3, 4, 5, 8, 9, 30, 32, 33].map(log2_ceil),
            [0, 1, 2, 2, 3, 3, 4, 5, 5, 6]
        );
    }

    proptest! {
        /// Over random histories with random flip points and random unbootable
        /// commits: every cell gets the right commit, or an honest range whose
        /// insides could not boot; and the probes stay within the bound.
        #[test]
        fn always_the_right_commit_within_the_bound(
            n in 2usize..200,
            flips in proptest::collection::vec(1usize..1000, 1..6),
            unbootable in proptest::collection::btree_set(1usize..1000, 0..12),
            parallel in 1usize..4,
            offset in 0usize..50,
        ) {
            let flips: Vec<usize> = flips.into_iter().map(|f| 1 + f % n).collect();
            let unbootable: BTreeSet<usize> = unbootable.into_iter().map(|u| 1 + u % (n - 1)).collect();
            let (answers, probes, skips, rounds) = run(n, &flips, &unbootable, &BTreeSet::new(), parallel, offset);
            for (cell, (answer, flip)) in answers.iter().zip(&flips).enumerate() {
                match *answer {
                    Answer::Found { first } => prop_assert_eq!(first, *flip, "cell {}", cell),
                    Answer::Range { last, first } => {
                        prop_assert!(last < *flip && *flip <= first, "cell {} flips at {} outside {}..={}", cell, flip, last, first);
                        prop_assert!((last + 1..first).all(|p| unbootable.contains(&p)), "range {}..{} has bootable commits", last, first);
                    }
                    Answer::Flaky { .. } => prop_assert!(false, "no cell is flaky here"),
                }
            }
            let distinct: BTreeSet<&usize> = flips.iter().collect();
            let bound = distinct.len() * log2_ceil(n);
            if parallel == 1 {
                // A skipped commit can cost one probe of its neighbour on top.
                prop_assert!(probes <= bound + skips, "{} probes for {} flip points over {} commits (bound {} + {} skips)", probes, distinct.len(), n, bound, skips);
                prop_assert_eq!(rounds, probes + skips);
            } else {
                prop_assert!(probes <= parallel * bound, "{} probes with {} at once (bound {})", probes, parallel, parallel * bound);
            }
            prop_assert!(skips <= unbootable.len());
        }
    }
}
