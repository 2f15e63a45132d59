//! Model 7: CPU lending (`src/runtime/lend.rs`). An idle P worker narrows an E worker's
//! thread to its own CPUs while that worker is in a long poll; the E worker must never be
//! left narrowed once the poll ends (it would sleep and run later on someone else's CPUs),
//! whoever ends the loan, and a P worker that sleeps blind must be nudged by an E worker
//! that wakes.
#![cfg(loom)]

use hetsched::runtime::__loom::{Lender, Loan};
use loom::sync::Arc;
use loom::thread;
use loom_tests::model;

#[test]
fn an_e_worker_is_never_left_lent_after_its_poll_ends() {
    model(|| {
        let loan = Arc::new(Loan::default());
        loan.begin_poll();
        let seen = loan.running_poll().expect("a poll is running");
        let lender = {
            let loan = loan.clone();
            thread::spawn(move || {
                loan.lend(seen, 0);
            })
        };
        loan.end_poll();
        lender.join().unwrap();
        assert!(
            !loan.is_lent(),
            "an E worker was left on its lender's CPUs after its poll ended"
        );
    });
}

#[test]
fn a_waking_lender_and_the_polls_end_both_give_the_cpus_back_once() {
    model(|| {
        let loan = Arc::new(Loan::default());
        loan.begin_poll();
        let seen = loan.running_poll().expect("a poll is running");
        assert!(loan.lend(seen, 0), "nobody raced this loan");
        assert_eq!(loan.running_poll(), None, "a lent worker is not lent twice");
        let lender = {
            let loan = loan.clone();
            thread::spawn(move || loan.take_back(0))
        };
        loan.end_poll();
        lender.join().unwrap();
        assert!(!loan.is_lent(), "the loan outlived both its ends");
        // The next long poll can be lent again.
        loan.begin_poll();
        let next = loan.running_poll().expect("a new poll is running");
        assert!(loan.lend(next, 0));
    });
}

#[test]
fn a_blind_sleeping_lender_is_nudged_by_a_waking_e_worker() {
    model(|| {
        let loan = Arc::new(Loan::default());
        loan.set_awake(false);
        let lender = Arc::new(Lender::default());
        let e = {
            let (loan, lender) = (loan.clone(), lender.clone());
            thread::spawn(move || {
                loan.set_awake(true);
                lender.needs_nudge()
            })
        };
        let blind = lender.sleeps_blind(&[&loan]);
        let nudged = e.join().unwrap();
        assert!(
            !blind || nudged,
            "a P worker sleeps blind while an E worker is awake, and nobody nudged it"
        );
    });
}
