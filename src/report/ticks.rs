//! Ticks for a time axis on round values: 1, 2 or 5 × 10^k, the "nice
//! numbers" a reader can add up at a glance. An axis cut into fifths of
//! its span reads 0, 14.9, 29.9, … 74.7 ms: true, and useless for telling
//! how long anything took.

/// The step between ticks: the smallest 1, 2 or 5 × 10^k that cuts `span`
/// into at most `most` steps (`most` ≥ 1). A span of 0 gets a step of 1.
pub fn step(span: f64, most: usize) -> f64 {
    if !(span.is_finite() && span > 0.0) {
        return 1.0;
    }
    let raw = span / most.max(1) as f64;
    let mut decade = 10f64.powf(raw.log10().floor());
    // log10 can land a hair below an exact power of ten.
    if decade * 10.0 <= raw {
        decade *= 10.0;
    }
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * decade)
        .find(|&s| s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * decade)
}

/// The ticks from 0 to `span`, `step` apart, none past the end; each
/// computed as a multiple of the step, so no error accumulates.
pub fn ticks(span: f64, step: f64) -> Vec<f64> {
    let n = (span / step * (1.0 + 1e-9)).floor().max(0.0) as usize;
    (0..=n).map(|i| i as f64 * step).collect()
}

/// A tick's label: as many decimals as the step needs and no more, so
/// `0.05 ms` steps read 0, 0.05, 0.1 … and `10 ms` steps read 0, 10, 20.
pub fn label(value: f64, step: f64, unit: &str) -> String {
    // The epsilon keeps log10(0.1), a hair off -1, from asking for two.
    let decimals = (-(step.log10() + 1e-9).floor()).max(0.0) as usize;
    format!("{value:.decimals$} {unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `x` is 1, 2 or 5 × 10^k.
    fn round(x: f64) -> bool {
        let mantissa = x / 10f64.powf(x.log10().floor());
        [1.0, 2.0, 5.0, 10.0]
            .iter()
            .any(|m| (mantissa - m).abs() < 1e-6)
    }

    #[test]
    fn the_tester_s_axis_gets_round_ticks() {
        // The span the testers saw labelled 0, 14.9, … 74.7 ms.
        let s = step(74.7, 8);
        assert_eq!(s, 10.0);
        let labels: Vec<String> = ticks(74.7, s).iter().map(|&t| label(t, s, "ms")).collect();
        assert_eq!(
            labels,
            [
                "0 ms", "10 ms", "20 ms", "30 ms", "40 ms", "50 ms", "60 ms", "70 ms"
            ]
        );
    }

    #[test]
    fn every_span_gets_a_round_step_and_a_readable_count_of_ticks() {
        for span in [
            0.0004, 0.003, 0.7, 1.0, 1.9, 7.99, 8.0, 8.01, 10.0, 20.01, 40.1, 74.7, 99.0, 100.0,
            380.5, 1234.0, 9e5,
        ] {
            let s = step(span, 8);
            assert!(round(s), "{span}: step {s}");
            let t = ticks(span, s);
            assert!((4..=9).contains(&t.len()), "{span}: {t:?}");
            assert_eq!(t[0], 0.0);
            assert!(*t.last().unwrap() <= span * (1.0 + 1e-9), "{span}: {t:?}");
            // The next tick would pass the end: the axis is covered.
            assert!(t.last().unwrap() + s > span, "{span}: {t:?}");
        }
        assert_eq!(step(0.0, 8), 1.0);
        assert_eq!(ticks(0.0, 1.0), [0.0]);
    }

    #[test]
    fn labels_carry_the_decimals_the_step_needs() {
        assert_eq!(label(0.15, 0.05, "ms"), "0.15 ms");
        assert_eq!(label(0.2, 0.2, "ms"), "0.2 ms");
        assert_eq!(label(3.0 * 0.1, 0.1, "ms"), "0.3 ms");
        assert_eq!(label(500.0, 500.0, "ms"), "500 ms");
        assert_eq!(label(2.0, 1.0, "ms"), "2 ms");
    }
}
