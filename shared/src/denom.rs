//! Splitting an amount into a minimal multiset of available denominations.

use std::collections::BTreeMap;

use crate::amount::Amount;

/// Why an amount cannot be split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SplitError {
    /// No combination of the denominations makes the amount.
    #[error("the amount cannot be made from the available denominations")]
    Unrepresentable,
    /// The denomination set is empty or contains zero.
    #[error("invalid denomination set")]
    InvalidDenominations,
    /// The set is not a divisibility chain and too large to search exactly.
    #[error("denomination set too irregular to split exactly")]
    Unsupported,
}

/// Largest residue solved by exact search for irregular denomination sets.
const EXACT_SEARCH_LIMIT: u64 = 1 << 20;

/// Splits `amount` into the fewest coins of the given denominations, as
/// `(value, count)` pairs, largest value first. Zero gives an empty split.
///
/// When each denomination divides the next (1, 2, 4, … as the bank issues)
/// the greedy choice is optimal. Otherwise an optimal split uses fewer than
/// `max` coins smaller than `max` (any `max` of them contain a non-empty subset
/// whose sum is a multiple of `max`, replaceable by fewer `max` coins), so all but
/// `max²` of the amount is taken in `max` coins and the rest solved exactly.
pub fn split(amount: Amount, denominations: &[Amount]) -> Result<Vec<(Amount, u64)>, SplitError> {
    let mut denoms: Vec<u64> = denominations.iter().map(|d| d.minor()).collect();
    denoms.sort_unstable_by(|a, b| b.cmp(a));
    denoms.dedup();
    if denoms.is_empty() || denoms.contains(&0) {
        return Err(SplitError::InvalidDenominations);
    }
    let mut counts: BTreeMap<u64, u64> = BTreeMap::new();
    let mut rest = amount.minor();
    let chain = denoms.windows(2).all(|w| w[0] % w[1] == 0);
    if chain {
        for &d in &denoms {
            let n = rest / d;
            if n > 0 {
                counts.insert(d, n);
                rest -= n * d;
            }
        }
        if rest != 0 {
            return Err(SplitError::Unrepresentable);
        }
    } else {
        let max = denoms[0];
        let bound = max.checked_mul(max).ok_or(SplitError::Unsupported)?;
        if bound > EXACT_SEARCH_LIMIT {
            return Err(SplitError::Unsupported);
        }
        let bulk = rest.saturating_sub(bound) / max;
        if bulk > 0 {
            counts.insert(max, bulk);
            rest -= bulk * max;
        }
        for (d, n) in exact_split(rest, &denoms)? {
            *counts.entry(d).or_insert(0) += n;
        }
    }
    Ok(counts
        .into_iter()
        .rev()
        .map(|(d, n)| (Amount::from_minor(d), n))
        .collect())
}

/// Fewest-coins change by dynamic programming over `0..=amount`.
fn exact_split(amount: u64, denoms: &[u64]) -> Result<Vec<(u64, u64)>, SplitError> {
    let n = usize::try_from(amount).map_err(|_| SplitError::Unsupported)?;
    let mut best: Vec<u32> = vec![u32::MAX; n + 1];
    let mut last: Vec<u64> = vec![0; n + 1];
    best[0] = 0;
    for v in 1..=n {
        for &d in denoms {
            let Ok(d_us) = usize::try_from(d) else {
                continue;
            };
            if d_us <= v && best[v - d_us] != u32::MAX && best[v - d_us] + 1 < best[v] {
                best[v] = best[v - d_us] + 1;
                last[v] = d;
            }
        }
    }
    if best[n] == u32::MAX {
        return Err(SplitError::Unrepresentable);
    }
    let mut out: BTreeMap<u64, u64> = BTreeMap::new();
    let mut v = n;
    while v > 0 {
        let d = last[v];
        *out.entry(d).or_insert(0) += 1;
        v -= usize::try_from(d).map_err(|_| SplitError::Unsupported)?;
    }
    Ok(out.into_iter().collect())
}

/// The total value of a split.
pub fn split_total(split: &[(Amount, u64)]) -> Option<Amount> {
    split.iter().try_fold(Amount::ZERO, |acc, &(d, n)| {
        d.checked_mul(n).ok().and_then(|v| acc.checked_add(v).ok())
    })
}

/// Powers of two from 1 up to and including `max` (the bank's default set).
pub fn powers_of_two(max: Amount) -> Vec<Amount> {
    (0..64)
        .map(|i| 1u64 << i)
        .take_while(|&v| v <= max.minor())
        .map(Amount::from_minor)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(v: u64) -> Amount {
        Amount::from_minor(v)
    }

    #[test]
    fn powers_of_two_split_is_binary() {
        let d = powers_of_two(a(1 << 10));
        assert_eq!(
            split(a(13), &d).unwrap(),
            vec![(a(8), 1), (a(4), 1), (a(1), 1)]
        );
        assert_eq!(split(a(5000), &d).unwrap()[0], (a(1024), 4));
        assert_eq!(split(a(0), &d).unwrap(), vec![]);
    }

    #[test]
    fn irregular_sets_are_optimal() {
        // Greedy would give 4+1+1 (3 coins); optimal is 3+3.
        let s = split(a(6), &[a(1), a(3), a(4)]).unwrap();
        assert_eq!(s, vec![(a(3), 2)]);
        assert_eq!(split(a(7), &[a(2), a(4)]), Err(SplitError::Unrepresentable));
        assert_eq!(split(a(7), &[]), Err(SplitError::InvalidDenominations));
    }
}
