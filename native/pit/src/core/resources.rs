//! Resource amounts and capacities in exact fixed-point arithmetic.
//!
//! Every dimension is counted in thousandths (`Amount`), so `cpu = 0.5` is exact and sums never
//! drift: accounting can be checked for equality, and never goes negative or leaks.

use std::fmt;

use crate::error::{PitError, Result};

/// A non-negative quantity in thousandths of a unit.
pub type Amount = u64;

/// Thousandths per unit.
pub const SCALE: f64 = 1000.0;
/// Largest accepted quantity in units (a petabyte of megabytes); keeps every sum far from overflow.
pub const MAX_UNITS: f64 = 1e12;

/// The resource dimensions, in the order used by [`Resources`].
pub const DIMENSIONS: [&str; 4] = ["cpu", "memory_mb", "gpu_memory_mb", "slots"];

/// Convert a user-supplied number into an exact `Amount`, naming the field on error.
pub fn amount_from_units(field: &str, units: f64) -> Result<Amount> {
    if !units.is_finite() {
        return Err(PitError::validation(format!(
            "{field} must be a finite number, got {units}"
        )));
    }
    if units < 0.0 {
        return Err(PitError::validation(format!(
            "{field} must not be negative, got {units}"
        )));
    }
    if units > MAX_UNITS {
        return Err(PitError::validation(format!(
            "{field} = {units} is larger than the supported maximum {MAX_UNITS:e}"
        )));
    }
    Ok((units * SCALE).round() as Amount)
}

/// Render an `Amount` back as units.
pub fn units(amount: Amount) -> f64 {
    amount as f64 / SCALE
}

/// An amount of each dimension (cpu, memory_mb, gpu_memory_mb, slots).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Resources(pub [Amount; 4]);

impl Resources {
    pub const ZERO: Resources = Resources([0; 4]);

    /// Build from units, validating each dimension.
    pub fn from_units(cpu: f64, memory_mb: f64, gpu_memory_mb: f64, slots: f64) -> Result<Self> {
        Ok(Resources([
            amount_from_units("cpu", cpu)?,
            amount_from_units("memory_mb", memory_mb)?,
            amount_from_units("gpu_memory_mb", gpu_memory_mb)?,
            amount_from_units("slots", slots)?,
        ]))
    }

    pub fn checked_add(&self, other: &Resources) -> Option<Resources> {
        let mut out = [0; 4];
        for (i, slot) in out.iter_mut().enumerate() {
            *slot = self.0[i].checked_add(other.0[i])?;
        }
        Some(Resources(out))
    }

    pub fn checked_sub(&self, other: &Resources) -> Option<Resources> {
        let mut out = [0; 4];
        for (i, slot) in out.iter_mut().enumerate() {
            *slot = self.0[i].checked_sub(other.0[i])?;
        }
        Some(Resources(out))
    }
}

impl fmt::Display for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = DIMENSIONS
            .iter()
            .zip(self.0)
            .filter(|(_, a)| *a > 0)
            .map(|(d, a)| format!("{d}={}", units(a)))
            .collect();
        if parts.is_empty() {
            f.write_str("nothing")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// Per-dimension limits; `None` means unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capacity(pub [Option<Amount>; 4]);

impl Capacity {
    pub const UNLIMITED: Capacity = Capacity([None; 4]);

    /// Does `used + request` stay within every limit? Returns the first dimension that overflows.
    pub fn overflow(&self, used: &Resources, request: &Resources) -> Option<usize> {
        (0..4).find(|&i| match self.0[i] {
            None => false,
            Some(limit) => used.0[i]
                .checked_add(request.0[i])
                .is_none_or(|t| t > limit),
        })
    }

    /// Human-readable description of a capacity shortfall on dimension `dim`.
    pub fn shortfall(&self, dim: usize, used: &Resources, request: &Resources) -> String {
        let limit = self.0[dim].unwrap_or(Amount::MAX);
        format!(
            "needs {}={} but only {} of {} is free",
            DIMENSIONS[dim],
            units(request.0[dim]),
            units(limit.saturating_sub(used.0[dim])),
            units(limit)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_negative_nan_and_huge() {
        assert!(amount_from_units("cpu", -1.0).is_err());
        assert!(amount_from_units("cpu", f64::NAN).is_err());
        assert!(amount_from_units("cpu", f64::INFINITY).is_err());
        assert!(amount_from_units("cpu", 1e30).is_err());
        assert_eq!(amount_from_units("cpu", 0.5).unwrap(), 500);
    }

    #[test]
    fn capacity_overflow_names_the_dimension() {
        let cap = Capacity([Some(2000), None, None, None]);
        let used = Resources([1500, 0, 0, 0]);
        assert_eq!(cap.overflow(&used, &Resources([500, 9, 9, 9])), None);
        assert_eq!(cap.overflow(&used, &Resources([501, 0, 0, 0])), Some(0));
        assert!(cap
            .shortfall(0, &used, &Resources([1000, 0, 0, 0]))
            .contains("only 0.5 of 2"));
    }
}
