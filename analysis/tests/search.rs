//! The search strategies on a synthetic serving grid with a known front (see
//! `common/grid.rs`): the goals of the adaptive search, and proposals that depend on
//! nothing but the search and the observations.

mod common;

use std::collections::HashSet;

use bench_analysis::search::{Observed, Search, Strategy};
use common::grid::{Grid, fraction, grid};

fn reached(g: &Grid, strategy: Strategy, seed: u64, pct: usize, prior: bool) -> f64 {
    let s = Search {
        space: &g.space,
        strategy,
        seed,
        batch: 16,
        prior: prior.then_some(&g.prior[..]),
    };
    let obs = s.run(g.space.points.len() * pct / 100, |i| g.truth[i].clone());
    fraction(g, &obs.iter().map(|o| o.point).collect::<Vec<_>>())
}

#[test]
fn the_surrogate_finds_the_front_with_a_tenth_of_the_grid() {
    let g = grid();
    for seed in [1, 2] {
        let (ten, fifteen) = (
            reached(&g, Strategy::Surrogate, seed, 10, true),
            reached(&g, Strategy::Surrogate, seed, 15, true),
        );
        let random = reached(&g, Strategy::Random, seed, 10, true);
        assert!(
            ten >= 0.97,
            "seed {seed}: {ten:.4} of the front's hypervolume at 10 %"
        );
        assert!(fifteen >= 0.99, "seed {seed}: {fifteen:.4} at 15 %");
        assert!(
            ten >= random + 0.05,
            "seed {seed}: {ten:.4} vs random's {random:.4}"
        );
    }
}

#[test]
fn without_a_prior_the_surrogate_and_nsga2_still_beat_random() {
    let g = grid();
    let mean = |s, prior| {
        (0..3)
            .map(|seed| reached(&g, s, seed, 10, prior))
            .sum::<f64>()
            / 3.0
    };
    let random = mean(Strategy::Random, false);
    let nsga2 = mean(Strategy::Nsga2, false);
    let surrogate = mean(Strategy::Surrogate, false);
    assert!(
        nsga2 > random + 0.03,
        "nsga2 {nsga2:.4} vs random {random:.4}"
    );
    assert!(
        surrogate > random + 0.05,
        "surrogate {surrogate:.4} vs random {random:.4}"
    );
}

#[test]
fn proposals_depend_on_the_observations_not_their_order() {
    let g = grid();
    for strategy in Strategy::ALL {
        let s = Search {
            space: &g.space,
            strategy,
            seed: 7,
            batch: 16,
            prior: Some(&g.prior),
        };
        let obs = s.run(64, |i| g.truth[i].clone());
        let proposed: HashSet<usize> = obs.iter().map(|o| o.point).collect();
        let next = s.propose(4, &obs, &proposed);
        let mut shuffled: Vec<Observed> = obs.iter().rev().cloned().collect();
        shuffled.rotate_left(13);
        shuffled.push(obs[0].clone()); // a result heard twice
        assert_eq!(
            s.propose(4, &shuffled, &proposed),
            next,
            "{}",
            strategy.name()
        );
        // A replay from the observations alone gives the same batches (what a resumed
        // build does): generation by generation, the same candidates.
        let again = s.run(64, |i| g.truth[i].clone());
        assert_eq!(again, obs, "{}", strategy.name());
        // Another seed, another search (random and nsga2 draw; the surrogate's choice is
        // the prior's and the measurements').
        if strategy != Strategy::Surrogate {
            let other = Search {
                seed: 8,
                ..s.clone()
            }
            .run(64, |i| g.truth[i].clone());
            assert_ne!(other, obs, "{}", strategy.name());
        }
    }
}

#[test]
fn no_candidate_is_proposed_twice_and_failures_count() {
    let g = grid();
    for strategy in Strategy::ALL {
        let s = Search {
            space: &g.space,
            strategy,
            seed: 3,
            batch: 16,
            prior: Some(&g.prior),
        };
        let obs = s.run(400, |i| g.truth[i].clone());
        assert_eq!(obs.len(), 400);
        let distinct: HashSet<usize> = obs.iter().map(|o| o.point).collect();
        assert_eq!(distinct.len(), 400, "{}", strategy.name());
        assert!(
            obs.iter().any(|o| o.objectives.is_none()),
            "{}: crashes are observations",
            strategy.name()
        );
    }
    // A space smaller than the budget is measured whole, once.
    let s = Search {
        space: &g.space,
        strategy: Strategy::Nsga2,
        seed: 1,
        batch: 1000,
        prior: None,
    };
    assert_eq!(
        s.run(usize::MAX, |i| g.truth[i].clone()).len(),
        g.space.points.len()
    );
}
