//! `CpuSet`: a set of logical CPU ids, written in Linux cpulist syntax.
//!
//! The syntax is the one the kernel prints in `/sys/devices/system/cpu/online` and
//! documents in `Documentation/admin-guide/cputopology.rst`: comma-separated ids or
//! inclusive ranges `a-b`, e.g. `0-3,8,10-11`. The empty string is the empty set.

use std::fmt;
use std::str::FromStr;

/// Number of CPU ids a [`CpuSet`] can hold: ids are `0..MAX_CPUS`.
///
/// 4096 matches the largest `CONFIG_NR_CPUS` of mainstream Linux distribution kernels
/// (x86_64 `MAXSMP` selects 8192 only on special builds).
pub const MAX_CPUS: usize = 4096;

const WORD_BITS: usize = 64;

/// A set of logical CPU ids in `0..MAX_CPUS`.
///
/// Parses from and prints as a Linux cpulist (`"0-3,8,10-11"`); `""` is the empty set.
///
/// ```
/// use hetsched::topology::CpuSet;
///
/// let set: CpuSet = "0-3,8,10-11\n".parse().unwrap();
/// assert_eq!(set.len(), 7);
/// assert!(set.contains(10));
/// assert_eq!(set.to_string(), "0-3,8,10-11");
/// assert!("3-1".parse::<CpuSet>().is_err());
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct CpuSet {
    /// Bit `i % 64` of word `i / 64` is CPU `i`. Never has trailing zero words, so the
    /// derived `PartialEq` / `Hash` compare sets, not allocation sizes.
    words: Vec<u64>,
}

/// Why a cpulist or CPU id was rejected. Its `Display` quotes the offending text and
/// says what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuSetError {
    input: String,
    reason: String,
}

impl CpuSetError {
    fn new(input: impl Into<String>, reason: impl Into<String>) -> Self {
        CpuSetError {
            input: input.into(),
            reason: reason.into(),
        }
    }

    /// The text (or CPU id) that was rejected.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// What was wrong with it.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for CpuSetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid CPU list {:?}: {} (expected a Linux cpulist such as \"0-3,8,10-11\" with ids below {})",
            self.input, self.reason, MAX_CPUS
        )
    }
}

impl std::error::Error for CpuSetError {}

impl CpuSet {
    /// The empty set.
    pub fn new() -> CpuSet {
        CpuSet { words: Vec::new() }
    }

    /// The set `0..n` (clamped to `MAX_CPUS`).
    ///
    /// ```
    /// use hetsched::topology::CpuSet;
    /// assert_eq!(CpuSet::first_n(4).to_string(), "0-3");
    /// ```
    pub fn first_n(n: usize) -> CpuSet {
        (0..n.min(MAX_CPUS)).collect()
    }

    /// Builds a set from ids; an id `>= MAX_CPUS` is an error.
    ///
    /// ```
    /// use hetsched::topology::CpuSet;
    /// assert_eq!(CpuSet::from_cpus([3, 1, 2]).unwrap().to_string(), "1-3");
    /// assert!(CpuSet::from_cpus([5000]).is_err());
    /// ```
    pub fn from_cpus(ids: impl IntoIterator<Item = usize>) -> Result<CpuSet, CpuSetError> {
        let mut set = CpuSet::new();
        for id in ids {
            set.insert(id)?;
        }
        Ok(set)
    }

    /// Adds `cpu`; an id `>= MAX_CPUS` is an error and leaves the set unchanged.
    pub fn insert(&mut self, cpu: usize) -> Result<(), CpuSetError> {
        if cpu >= MAX_CPUS {
            return Err(CpuSetError::new(
                cpu.to_string(),
                format!("CPU id {cpu} is not below {MAX_CPUS}"),
            ));
        }
        let word = cpu / WORD_BITS;
        if self.words.len() <= word {
            self.words.resize(word + 1, 0);
        }
        self.words[word] |= 1 << (cpu % WORD_BITS);
        Ok(())
    }

    /// Removes `cpu` if present; returns whether it was present.
    pub fn remove(&mut self, cpu: usize) -> bool {
        let present = self.contains(cpu);
        if present {
            self.words[cpu / WORD_BITS] &= !(1 << (cpu % WORD_BITS));
            self.trim();
        }
        present
    }

    /// Whether `cpu` is in the set (ids out of range are never in it).
    pub fn contains(&self, cpu: usize) -> bool {
        self.words
            .get(cpu / WORD_BITS)
            .is_some_and(|w| w & (1 << (cpu % WORD_BITS)) != 0)
    }

    /// Number of CPUs in the set.
    pub fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The ids in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                if rest == 0 {
                    return None;
                }
                let bit = rest.trailing_zeros() as usize;
                rest &= rest - 1;
                Some(i * WORD_BITS + bit)
            })
        })
    }

    /// The smallest id, if any.
    pub fn first(&self) -> Option<usize> {
        self.iter().next()
    }

    /// CPUs in either set.
    pub fn union(&self, o: &CpuSet) -> CpuSet {
        let len = self.words.len().max(o.words.len());
        let words = (0..len)
            .map(|i| self.word(i) | o.word(i))
            .collect::<Vec<_>>();
        CpuSet::from_words(words)
    }

    /// CPUs in both sets.
    pub fn intersection(&self, o: &CpuSet) -> CpuSet {
        let len = self.words.len().min(o.words.len());
        CpuSet::from_words((0..len).map(|i| self.word(i) & o.word(i)).collect())
    }

    /// CPUs in `self` but not in `o`.
    pub fn difference(&self, o: &CpuSet) -> CpuSet {
        CpuSet::from_words(
            (0..self.words.len())
                .map(|i| self.word(i) & !o.word(i))
                .collect(),
        )
    }

    /// Whether no CPU is in both sets.
    pub fn is_disjoint(&self, o: &CpuSet) -> bool {
        self.intersection(o).is_empty()
    }

    /// Whether every CPU of `self` is in `o`.
    pub fn is_subset(&self, o: &CpuSet) -> bool {
        self.difference(o).is_empty()
    }

    fn word(&self, i: usize) -> u64 {
        self.words.get(i).copied().unwrap_or(0)
    }

    fn from_words(words: Vec<u64>) -> CpuSet {
        let mut set = CpuSet { words };
        set.trim();
        set
    }

    fn trim(&mut self) {
        while self.words.last() == Some(&0) {
            self.words.pop();
        }
    }

    /// Inclusive runs of consecutive ids, ascending.
    fn runs(&self) -> Vec<(usize, usize)> {
        let mut runs: Vec<(usize, usize)> = Vec::new();
        for cpu in self.iter() {
            match runs.last_mut() {
                Some((_, end)) if *end + 1 == cpu => *end = cpu,
                _ => runs.push((cpu, cpu)),
            }
        }
        runs
    }
}

/// Collects ids into a set. Ids `>= MAX_CPUS` are silently dropped; use
/// [`CpuSet::from_cpus`] to have them rejected.
impl FromIterator<usize> for CpuSet {
    fn from_iter<I: IntoIterator<Item = usize>>(iter: I) -> Self {
        let mut set = CpuSet::new();
        for id in iter {
            // Out-of-range ids are documented to be dropped.
            let _ = set.insert(id);
        }
        set
    }
}

impl fmt::Display for CpuSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (start, end)) in self.runs().into_iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if start == end {
                write!(f, "{start}")?;
            } else {
                write!(f, "{start}-{end}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for CpuSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CpuSet({:?})", self.to_string())
    }
}

impl FromStr for CpuSet {
    type Err = CpuSetError;

    /// Parses a Linux cpulist. Surrounding whitespace (a trailing newline from a sysfs
    /// file) is ignored; whitespace around items and range dashes is accepted too.
    fn from_str(text: &str) -> Result<CpuSet, CpuSetError> {
        let body = text.trim();
        let mut set = CpuSet::new();
        if body.is_empty() {
            return Ok(set);
        }
        for item in body.split(',') {
            let item = item.trim();
            if item.is_empty() {
                return Err(CpuSetError::new(
                    text,
                    "empty item between commas (or a leading/trailing comma)",
                ));
            }
            let (start, end) = match item.split_once('-') {
                Some((a, b)) => (parse_id(text, a)?, parse_id(text, b)?),
                None => {
                    let id = parse_id(text, item)?;
                    (id, id)
                }
            };
            if start > end {
                return Err(CpuSetError::new(
                    text,
                    format!("range {item:?} starts above its end"),
                ));
            }
            for cpu in start..=end {
                set.insert(cpu).map_err(|_| {
                    CpuSetError::new(text, format!("CPU id {end} is not below {MAX_CPUS}"))
                })?;
            }
        }
        Ok(set)
    }
}

/// One decimal id of a cpulist; `text` is the whole list, quoted in errors.
fn parse_id(text: &str, part: &str) -> Result<usize, CpuSetError> {
    let part = part.trim();
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CpuSetError::new(
            text,
            format!("{part:?} is not a decimal CPU id"),
        ));
    }
    let id: usize = part
        .parse()
        .map_err(|_| CpuSetError::new(text, format!("CPU id {part} is too large")))?;
    if id >= MAX_CPUS {
        return Err(CpuSetError::new(
            text,
            format!("CPU id {id} is not below {MAX_CPUS}"),
        ));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(text: &str) -> CpuSet {
        text.parse().unwrap()
    }

    #[test]
    fn parses_and_prints_ranges() {
        let s = set("0-3,8,10-11");
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![0, 1, 2, 3, 8, 10, 11]);
        assert_eq!(s.to_string(), "0-3,8,10-11");
        assert_eq!(set(" 1 , 3 - 4 \n").to_string(), "1,3-4");
        assert_eq!(set("5,4,3").to_string(), "3-5");
        assert_eq!(set("2-2").to_string(), "2");
    }

    #[test]
    fn empty_text_is_empty_set() {
        assert!(set("").is_empty());
        assert!(set("\n").is_empty());
        assert_eq!(CpuSet::new().to_string(), "");
    }

    #[test]
    fn rejects_bad_lists_quoting_them() {
        for bad in [
            "3-1", "a", "1,,2", "4096", "0-4096", "1,", ",1", "-1", "1-", "1-2-3", "+1",
        ] {
            let err = bad.parse::<CpuSet>().unwrap_err();
            assert_eq!(err.input(), bad, "{bad}");
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
        let err = "99999999999999999999999".parse::<CpuSet>().unwrap_err();
        assert!(err.reason().contains("too large"), "{err}");
    }

    #[test]
    fn set_operations() {
        let a = set("0-7");
        let b = set("4-11");
        assert_eq!(a.union(&b).to_string(), "0-11");
        assert_eq!(a.intersection(&b).to_string(), "4-7");
        assert_eq!(a.difference(&b).to_string(), "0-3");
        assert!(!a.is_disjoint(&b));
        assert!(set("0-3").is_disjoint(&set("4-5")));
        assert!(set("1-2").is_subset(&a));
        assert!(!b.is_subset(&a));
        assert!(CpuSet::new().is_subset(&CpuSet::new()));
    }

    #[test]
    fn equality_ignores_how_the_set_was_built() {
        let mut grown = set("0,200");
        assert!(grown.remove(200));
        assert!(!grown.remove(200));
        assert_eq!(grown, set("0"));
        assert_eq!(set("0-200").intersection(&set("0")), set("0"));
    }

    #[test]
    fn insert_and_from_iter_limits() {
        let mut s = CpuSet::new();
        assert!(s.insert(MAX_CPUS).is_err());
        assert!(s.insert(MAX_CPUS - 1).is_ok());
        assert_eq!(s.first(), Some(MAX_CPUS - 1));
        let dropped: CpuSet = [1, MAX_CPUS + 5].into_iter().collect();
        assert_eq!(dropped.to_string(), "1");
        assert!(CpuSet::from_cpus([1, MAX_CPUS]).is_err());
    }
}
