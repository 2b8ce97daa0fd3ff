//! Time: one clock for every timestamp in the Pit.

/// A time or duration kept as a plain float (half the bytes of an `Option<f64>`): NaN for none.
pub fn known(x: f64) -> Option<f64> {
    (!x.is_nan()).then_some(x)
}

/// Seconds since the Unix epoch, as a float (the time base of every timestamp in the Pit).
///
/// Read from the CPU's time-stamp counter through `quanta` (a few ns, against ~50 ns for a
/// system-clock read in a VM; the Pit takes several timestamps per workflow node), anchored to
/// the system clock once per process. Where the counter is unreliable quanta falls back to the
/// OS's monotonic clock.
pub fn now() -> f64 {
    let anchor = clock_anchor();
    let ticks = anchor.clock.raw().saturating_sub(anchor.raw);
    anchor.wall + ticks as f64 * anchor.seconds_per_tick
}

struct ClockAnchor {
    clock: quanta::Clock,
    raw: u64,
    wall: f64,
    /// The counter's calibrated rate (quanta's scale is linear: one multiplication in floats
    /// instead of its 128-bit integer scaling per timestamp).
    seconds_per_tick: f64,
}

fn clock_anchor() -> &'static ClockAnchor {
    static ANCHOR: std::sync::OnceLock<ClockAnchor> = std::sync::OnceLock::new();
    ANCHOR.get_or_init(|| {
        let clock = quanta::Clock::new();
        let raw = clock.raw();
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        const TICKS: u64 = 1 << 40;
        let seconds_per_tick = clock.delta_as_nanos(0, TICKS) as f64 * 1e-9 / TICKS as f64;
        ClockAnchor {
            clock,
            raw,
            wall,
            seconds_per_tick,
        }
    })
}

#[cfg(test)]
mod clock_tests {
    use super::now;

    #[test]
    fn now_keeps_pace_with_the_system_clock() {
        let wall = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs_f64()
        };
        let (first, first_wall) = (now(), wall());
        assert!((first - first_wall).abs() < 0.05, "{first} vs {first_wall}");
        std::thread::sleep(std::time::Duration::from_millis(200));
        let (second, second_wall) = (now(), wall());
        let (elapsed, elapsed_wall) = (second - first, second_wall - first_wall);
        // The counter's rate is right to well within a percent over a fifth of a second.
        assert!(
            (elapsed - elapsed_wall).abs() < 0.01,
            "{elapsed} vs {elapsed_wall}"
        );
        assert!(elapsed >= 0.2 - 0.01);
        let mut last = now();
        for _ in 0..10_000 {
            let t = now();
            assert!(t >= last, "time went back");
            last = t;
        }
    }
}
