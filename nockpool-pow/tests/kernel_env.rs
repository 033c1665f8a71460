//! `NOCKPOOL_POW_KERNEL` forces a kernel, both for the lazy feature-based default and for
//! `autotune`, and an unusable value is reported rather than obeyed. One test in its own binary:
//! the variable is read once per process, before anything else hashes.

use std::time::Duration;

use nockpool_pow::kernel::{self, Kernel, KERNEL_ENV};

#[test]
fn the_environment_variable_forces_the_kernel_and_bad_values_are_reported() {
    // Nothing has hashed in this process yet, so the lazy default reads the variable now.
    std::env::set_var(KERNEL_ENV, "portable");
    assert_eq!(kernel::current(), Kernel::Portable);
    assert_eq!(nockpool_pow::tip5::kernel_name(), "portable");
    // Hashing works under the forced kernel (spec vector: hash_varlen([2])).
    assert_eq!(
        nockpool_pow::tip5::hash_varlen(&[2]),
        [
            8342164316692288712,
            12061287490523852513,
            4038969618836824144,
            5830796451787599265,
            468390350313364562
        ]
    );

    // autotune measures every supported kernel but keeps the forced one.
    let tuning = kernel::autotune(Duration::from_millis(2));
    assert_eq!(tuning.chosen, Kernel::Portable);
    assert!(tuning.forced);
    assert_eq!(tuning.env_ignored, None);
    assert_eq!(tuning.rates.len(), Kernel::supported().len());
    assert!(tuning
        .to_string()
        .contains("using portable (forced by NOCKPOOL_POW_KERNEL)"));

    // An unknown name is ignored, with a note saying so; the fastest kernel is chosen.
    std::env::set_var(KERNEL_ENV, "sse9");
    let tuning = kernel::autotune(Duration::from_millis(2));
    assert!(!tuning.forced);
    let note = tuning
        .env_ignored
        .clone()
        .expect("the bad value is reported");
    assert!(
        note.contains("\"sse9\"") && note.contains("not a kernel"),
        "{note}"
    );
    assert!(tuning.to_string().contains(&note));
    let fastest = tuning
        .rates
        .iter()
        .max_by(|a, b| a.nonces_per_sec.total_cmp(&b.nonces_per_sec))
        .unwrap()
        .kernel;
    assert_eq!(tuning.chosen, fastest);
    assert_eq!(kernel::current(), fastest);
    std::env::remove_var(KERNEL_ENV);
}
