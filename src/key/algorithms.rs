//! A set of algorithms as a bit mask: copying and checking it costs nothing.

use std::fmt;

use jsonwebtoken::{Algorithm, AlgorithmFamily};

const ALL: [Algorithm; 12] = [
    Algorithm::HS256,
    Algorithm::HS384,
    Algorithm::HS512,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// A set of JWS algorithms.
///
/// ```
/// use tower_jwt_auth::{Algorithm, AlgorithmSet};
/// let set: AlgorithmSet = [Algorithm::RS256, Algorithm::ES256].into_iter().collect();
/// assert!(set.contains(Algorithm::ES256));
/// assert!(!set.contains(Algorithm::HS256));
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct AlgorithmSet(u16);

impl AlgorithmSet {
    /// The empty set.
    pub const fn empty() -> Self {
        AlgorithmSet(0)
    }

    /// Every algorithm jsonwebtoken can verify.
    pub const fn all() -> Self {
        AlgorithmSet((1 << ALL.len()) - 1)
    }

    /// A set of one algorithm.
    pub fn one(alg: Algorithm) -> Self {
        AlgorithmSet(bit(alg))
    }

    /// Every algorithm of a family (e.g. RS* and PS* for RSA keys).
    pub fn family(family: AlgorithmFamily) -> Self {
        family.algorithms().iter().copied().collect()
    }

    /// Whether `alg` is in the set.
    pub fn contains(self, alg: Algorithm) -> bool {
        self.0 & bit(alg) != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The algorithms in both sets.
    pub fn intersection(self, other: Self) -> Self {
        AlgorithmSet(self.0 & other.0)
    }

    /// The algorithms in the set.
    pub fn iter(self) -> impl Iterator<Item = Algorithm> {
        ALL.into_iter().filter(move |a| self.contains(*a))
    }
}

fn bit(alg: Algorithm) -> u16 {
    index(alg).map_or(0, |index| 1 << index)
}

/// `alg`'s place among the 12 algorithms, for tables indexed by algorithm.
pub(crate) fn index(alg: Algorithm) -> Option<usize> {
    Some(match alg {
        Algorithm::HS256 => 0,
        Algorithm::HS384 => 1,
        Algorithm::HS512 => 2,
        Algorithm::RS256 => 3,
        Algorithm::RS384 => 4,
        Algorithm::RS512 => 5,
        Algorithm::PS256 => 6,
        Algorithm::PS384 => 7,
        Algorithm::PS512 => 8,
        Algorithm::ES256 => 9,
        Algorithm::ES384 => 10,
        Algorithm::EdDSA => 11,
        // An algorithm added to jsonwebtoken later is in no set until listed here.
        _ => return None,
    })
}

impl FromIterator<Algorithm> for AlgorithmSet {
    fn from_iter<I: IntoIterator<Item = Algorithm>>(iter: I) -> Self {
        AlgorithmSet(iter.into_iter().fold(0, |acc, a| acc | bit(a)))
    }
}

impl fmt::Debug for AlgorithmSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_has_its_own_bit() {
        let set: AlgorithmSet = ALL.into_iter().collect();
        assert_eq!(set, AlgorithmSet::all());
        assert_eq!(set.iter().count(), 12);
        for a in ALL {
            assert_eq!(AlgorithmSet::one(a).iter().collect::<Vec<_>>(), vec![a]);
        }
    }

    #[test]
    fn rsa_family_has_pkcs1_and_pss() {
        let rsa = AlgorithmSet::family(AlgorithmFamily::Rsa);
        assert!(rsa.contains(Algorithm::PS512) && rsa.contains(Algorithm::RS256));
        assert!(!rsa.contains(Algorithm::ES256));
    }
}
