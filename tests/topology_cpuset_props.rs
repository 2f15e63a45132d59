//! Property tests for the cpulist syntax.

use hetsched::topology::{CpuSet, MAX_CPUS};
use proptest::prelude::*;

fn any_set() -> impl Strategy<Value = CpuSet> {
    prop_oneof![
        proptest::collection::vec(0..MAX_CPUS, 0..64),
        proptest::collection::vec(0usize..80, 0..80),
    ]
    .prop_map(|ids| CpuSet::from_cpus(ids).unwrap())
}

proptest! {
    #[test]
    fn display_then_parse_round_trips(set in any_set()) {
        let text = set.to_string();
        let back: CpuSet = text.parse().unwrap();
        prop_assert_eq!(&back, &set);
        let with_newline: CpuSet = format!("{text}\n").parse().unwrap();
        prop_assert_eq!(with_newline, set);
    }

    #[test]
    fn garbage_never_panics(text in ".*") {
        let _ = text.parse::<CpuSet>();
    }

    #[test]
    fn cpulist_like_garbage_never_panics_and_errors_quote_it(
        text in "[0-9,\\- \\n]{0,24}"
    ) {
        match text.parse::<CpuSet>() {
            Ok(set) => prop_assert!(set.iter().all(|c| c < MAX_CPUS)),
            Err(e) => {
                prop_assert_eq!(e.input(), text.as_str());
                let quoted = format!("{:?}", text);
                let message = e.to_string();
                prop_assert!(message.contains(&quoted), "{} lacks {}", message, quoted);
            }
        }
    }

    #[test]
    fn set_algebra_agrees_with_membership(a in any_set(), b in any_set(), probe in 0..MAX_CPUS) {
        prop_assert_eq!(a.union(&b).contains(probe), a.contains(probe) || b.contains(probe));
        prop_assert_eq!(a.intersection(&b).contains(probe), a.contains(probe) && b.contains(probe));
        prop_assert_eq!(a.difference(&b).contains(probe), a.contains(probe) && !b.contains(probe));
        prop_assert_eq!(a.is_disjoint(&b), a.intersection(&b).is_empty());
        prop_assert!(a.intersection(&b).is_subset(&a));
        prop_assert_eq!(a.len(), a.iter().count());
        let sorted: Vec<usize> = a.iter().collect();
        prop_assert!(sorted.windows(2).all(|w| w[0] < w[1]));
        prop_assert_eq!(a.first(), sorted.first().copied());
    }
}
