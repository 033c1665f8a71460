//! `cue` on any bytes (what a node sends): an error or a noun, never a panic; and for every
//! noun it yields, `cue(jam(x)) == x` and `jam` is canonical (`jam(cue(jam(x))) == jam(x)`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use nockpool_core::noun::{cue, cue_with_limits, jam, CueLimits};

fuzz_target!(|data: &[u8]| {
    let Ok(noun) = cue(data) else {
        return;
    };
    let bytes = jam(&noun);
    let again = cue(&bytes).expect("jam's output cues");
    assert!(again == noun, "cue(jam(x)) != x");
    assert_eq!(jam(&again), bytes, "jam is not canonical");
    // Tight limits refuse or agree; they never decode something else.
    let tight = CueLimits {
        max_bytes: data.len(),
        max_depth: 16,
    };
    if let Ok(limited) = cue_with_limits(data, &tight) {
        assert!(limited == noun);
    }
});
