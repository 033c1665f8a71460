//! Hashrates for people.

/// A hashrate as people read it: whole hashes below 1 kH/s, then two decimals with the unit
/// (`0 H/s`, `812 H/s`, `12.35 kH/s`, `1.20 MH/s`). Anything not positive (an empty sum, `-0.0`,
/// NaN) reads `0 H/s`. The one formatter of nockpool's logs and stats lines.
///
/// ```
/// assert_eq!(nockpool_core::format_hashrate(1_234_567.0), "1.23 MH/s");
/// ```
pub fn format_hashrate(hashes_per_second: f64) -> String {
    const UNITS: [&str; 6] = ["H/s", "kH/s", "MH/s", "GH/s", "TH/s", "PH/s"];
    let mut value = if hashes_per_second > 0.0 {
        hashes_per_second
    } else {
        0.0
    };
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.2} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashrates_read_well() {
        assert_eq!(format_hashrate(0.0), "0 H/s");
        assert_eq!(format_hashrate(-0.0), "0 H/s");
        assert_eq!(format_hashrate(f64::NAN), "0 H/s");
        assert_eq!(format_hashrate(-5.0), "0 H/s");
        assert_eq!(format_hashrate(812.4), "812 H/s");
        assert_eq!(format_hashrate(999.4), "999 H/s");
        assert_eq!(format_hashrate(12_345.0), "12.35 kH/s");
        assert_eq!(format_hashrate(1_200_000.0), "1.20 MH/s");
        assert_eq!(format_hashrate(1_234_567.0), "1.23 MH/s");
        assert_eq!(format_hashrate(3.0e15), "3.00 PH/s");
        assert_eq!(format_hashrate(3.0e18), "3000.00 PH/s");
    }
}
