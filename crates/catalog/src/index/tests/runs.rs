//! [`Runs`] against a `BTreeMap` under random inserts, replacements and removals: the same
//! entries, in order, from every start; its rules kept; and a clone taken before the changes
//! left as it was (a snapshot a reader holds).

use std::collections::BTreeMap;
use std::ops::Bound;

use super::Rng;
use crate::index::runs::Runs;

/// Every way to start reading `runs`, each compared with `model`.
fn assert_same(runs: &Runs<u32, u32>, model: &BTreeMap<u32, u32>, keys: u32) {
    runs.check();
    let all: Vec<(u32, u32)> = model.iter().map(|(k, v)| (*k, *v)).collect();
    let read = |start: Bound<&u32>| -> Vec<(u32, u32)> {
        runs.from(start).map(|(k, v)| (*k, *v)).collect()
    };
    assert_eq!(read(Bound::Unbounded), all);
    assert_eq!(
        runs.values().copied().collect::<Vec<_>>(),
        model.values().copied().collect::<Vec<_>>()
    );
    for key in 0..keys + 1 {
        let included: Vec<(u32, u32)> = model.range(key..).map(|(k, v)| (*k, *v)).collect();
        assert_eq!(read(Bound::Included(&key)), included, "from {key} on");
        let excluded: Vec<(u32, u32)> = model
            .range((Bound::Excluded(key), Bound::Unbounded))
            .map(|(k, v)| (*k, *v))
            .collect();
        assert_eq!(read(Bound::Excluded(&key)), excluded, "after {key}");
    }
}

#[test]
fn runs_hold_what_a_sorted_map_holds_through_random_changes() {
    for case in 0..60_u64 {
        let mut rng = Rng(0x2B_0000 + case);
        // Few keys make replacements and emptied runs common; many make splits.
        let keys = u32::try_from([40, 300, 2_000][rng.below(3)]).unwrap();
        let mut model: BTreeMap<u32, u32> = (0..keys)
            .filter(|_| rng.chance(50))
            .map(|key| (key, key * 10))
            .collect();
        let mut runs = Runs::from_sorted(model.iter().map(|(k, v)| (*k, *v)).collect());
        assert_same(&runs, &model, keys);
        let held = (runs.clone(), model.clone());
        for step in 0..rng.below(3_000) {
            let key = u32::try_from(rng.below(usize::try_from(keys).unwrap())).unwrap();
            // Mostly removals in some cases, to empty runs and merge them.
            let removes = if case % 3 == 0 { 70 } else { 45 };
            if rng.chance(removes) {
                assert_eq!(
                    runs.remove(&key),
                    model.remove(&key),
                    "case {case} step {step}"
                );
            } else {
                let value = u32::try_from(step).unwrap();
                assert_eq!(
                    runs.insert(key, value),
                    model.insert(key, value),
                    "case {case} step {step}"
                );
            }
            if step % 500 == 0 {
                runs.check();
            }
        }
        assert_same(&runs, &model, keys);
        assert_same(&held.0, &held.1, keys);
    }
}

#[test]
fn runs_start_empty_and_take_keys_below_and_above_all() {
    let mut runs: Runs<u32, u32> = Runs::default();
    let mut model = BTreeMap::new();
    assert_eq!(runs.remove(&3), None);
    // Descending inserts: each key goes before every run, which is then keyed anew.
    for key in (0..200).rev() {
        runs.insert(key, key);
        model.insert(key, key);
    }
    assert_same(&runs, &model, 200);
    for key in 0..200 {
        runs.remove(&key);
        model.remove(&key);
        runs.check();
    }
    assert_same(&runs, &model, 200);
}

#[test]
fn runs_thinned_out_are_merged() {
    let keys: u32 = 2_000;
    let mut runs = Runs::from_sorted((0..keys).map(|key| (key, key)).collect());
    let mut model: BTreeMap<u32, u32> = (0..keys).map(|key| (key, key)).collect();
    for key in (0..keys).filter(|key| key % 16 != 0) {
        runs.remove(&key);
        model.remove(&key);
    }
    assert_same(&runs, &model, keys);
    // 125 entries left of 63 runs: unmerged, each run would hold two.
    let fewest = model.len() / 8 * 2;
    assert!(runs.run_count() <= fewest, "{} runs", runs.run_count());
}
